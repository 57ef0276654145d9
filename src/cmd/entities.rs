//! `trustfold entities` and `trustfold conflicts`: the Entity projection.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::ValueEnum;
use serde_json::{json, Value};
use trustfold_events::EventStore;
use trustfold_projections::merge::COMPLETENESS_FIELDS_TOTAL;
use trustfold_projections::{
    ConflictRow, EntityCursor, EntityFilter, Field, MergedAway, MergedEntity, ProjectionDb,
};

use crate::datadir::Place;
use crate::exit::bad_input;
use crate::project;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Geojson,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only entities whose name, slug, locality or postcode has every word of TEXT.
    #[arg(long)]
    pub search: Option<String>,
    /// Only entities with a record from this source (e.g. openstreetmap).
    #[arg(long)]
    pub source: Option<String>,
    /// Only entities of this class (e.g. sports_centre).
    #[arg(long)]
    pub class: Option<String>,
    /// Only entities with a conflicting field.
    #[arg(long)]
    pub conflicted: bool,
    /// Only entities at least this complete (percent of the 20 key fields).
    #[arg(long, value_name = "PCT")]
    pub min_completeness: Option<f64>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Same as --format json.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ConflictsArgs {
    /// Print the conflicts as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// An entity as `entities --format json` shows it.
pub fn entity_json(m: &MergedEntity) -> Value {
    let fields: serde_json::Map<String, Value> = m
        .values
        .iter()
        .map(|(f, v)| (f.as_str().to_string(), v.value.clone()))
        .collect();
    let confidence: serde_json::Map<String, Value> = m
        .values
        .iter()
        .map(|(f, v)| (f.as_str().to_string(), json!(v.confidence)))
        .collect();
    json!({
        "entity_id": m.entity_id,
        "slug": m.slug,
        "name": m.name(),
        "fields": fields,
        "source_info": m.source_info(),
        "confidence": confidence,
        "external_ids": m.external_ids(),
        "sources": m.sources,
        "candidates": m.n_candidates,
        "completeness": {
            "present": m.completeness_present,
            "total": COMPLETENESS_FIELDS_TOTAL,
            "pct": m.completeness_pct(),
        },
        "conflicts": m.conflicts(),
    })
}

/// Longest search text or filter value, in characters.
pub const FILTER_CHARS_MAX: usize = 200;

/// The checked filters of a listing: the `entities` flags and the parameters of
/// `GET /api/entities` (a source must be one of the six, a percentage in 0..=100).
pub fn entity_filter(
    search: Option<&str>,
    source: Option<&str>,
    class: Option<&str>,
    conflicted: Option<bool>,
    min_completeness_pct: Option<f64>,
) -> Result<EntityFilter> {
    let text = |name: &str, v: Option<&str>| -> Result<Option<String>> {
        match v.map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) if t.chars().count() > FILTER_CHARS_MAX => Err(bad_input(format!(
                "{name}: at most {FILTER_CHARS_MAX} characters"
            ))),
            Some(t) => Ok(Some(t.to_string())),
        }
    };
    let source = text("source", source)?;
    if let Some(s) = &source {
        if !project::known_sources().contains(&s.as_str()) {
            return Err(bad_input(format!(
                "source {:?}: not one of {}",
                clip(s, 40),
                project::known_sources().join(", ")
            )));
        }
    }
    let completeness_min = match min_completeness_pct {
        None => None,
        Some(p) if (0.0..=100.0).contains(&p) => {
            Some((p * COMPLETENESS_FIELDS_TOTAL as f64 / 100.0).ceil() as u32)
        }
        Some(p) => {
            return Err(bad_input(format!(
                "minimum completeness {p}: give a percentage from 0 to 100"
            )))
        }
    };
    Ok(EntityFilter {
        search: text("search", search)?,
        source,
        entity_class: text("class", class)?,
        conflicted,
        completeness_min,
    })
}

/// One page of the listing: at most `limit` entities after `cursor` (the text of a
/// previous page's `next_cursor`), and where the next page starts.
pub fn list_entities(
    db: &ProjectionDb,
    filter: &EntityFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<MergedEntity>, Option<String>)> {
    let after = match cursor {
        None | Some("") => None,
        Some(c) => Some(EntityCursor::decode(c).ok_or_else(|| {
            bad_input("cursor: not a cursor this listing gave out (pass next_cursor as it is)")
        })?),
    };
    let page = db.entities_page(filter, after.as_ref(), limit)?;
    Ok((page.entities, page.next.map(|c| c.encode())))
}

/// `GET /api/entities`: a page of `entities --format json` documents and where the next
/// page starts (`null` on the last). A search for the id or slug of an entity merged
/// away finds its survivor first on the first page, and `alias` says so.
pub fn entities_page_document(
    db: &ProjectionDb,
    filter: &EntityFilter,
    search: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Value> {
    let (mut entities, next) = list_entities(db, filter, cursor, limit)?;
    let alias = match cursor {
        None => survivor_of(db, search, &mut entities)?,
        Some(_) => None,
    };
    Ok(json!({
        "entities": entities.iter().map(entity_json).collect::<Vec<_>>(),
        "next_cursor": next,
        "limit": limit,
        "alias": alias.as_ref().map(crate::cmd::provenance::alias_json),
    }))
}

/// When `search` is the id or slug of an entity merged away: its survivor is put first
/// in `entities` (unless listed already), and what was merged is returned.
fn survivor_of(
    db: &ProjectionDb,
    search: Option<&str>,
    entities: &mut Vec<MergedEntity>,
) -> Result<Option<MergedAway>> {
    let Some(key) = search.map(str::trim) else {
        return Ok(None);
    };
    let (Some(alias), Some((survivor, _))) = (db.alias(key)?, db.entity(key)?) else {
        return Ok(None);
    };
    if !entities.iter().any(|e| e.entity_id == survivor.entity_id) {
        entities.insert(0, survivor);
    }
    Ok(Some(alias))
}

pub fn run(data_dir: &Place, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let filter = entity_filter(
        args.search.as_deref(),
        args.source.as_deref(),
        args.class.as_deref(),
        args.conflicted.then_some(true),
        args.min_completeness,
    )?;
    let policy = project::load_policy(trust, data_dir)?;
    let db = project::open_for_reading(data_dir, &policy)?;
    let (mut entities, _) = list_entities(&db, &filter, None, usize::MAX)?;
    // The id or slug of an entity merged away finds its survivor, saying so.
    let search = args.search.as_deref();
    if let Some(alias) = survivor_of(&db, search, &mut entities)? {
        let key = search.unwrap_or_default().trim();
        let slug = entities.first().map_or("", |e| e.slug.as_str());
        eprintln!("{}", crate::cmd::provenance::alias_note(key, &alias, slug));
    }
    let format = if args.json { Format::Json } else { args.format };
    match format {
        Format::Json => {
            let docs: Vec<Value> = entities.iter().map(entity_json).collect();
            println!("{}", serde_json::to_string_pretty(&docs)?);
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record([
                "entity_id",
                "slug",
                "name",
                "entity_class",
                "address",
                "locality",
                "postcode",
                "lat",
                "lon",
                "phone",
                "website",
                "sports",
                "sources",
                "completeness_pct",
            ])?;
            for m in &entities {
                let (lat, lon) = m
                    .coordinates()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .unwrap_or_default();
                let list = |f: Field| {
                    m.values
                        .get(&f)
                        .and_then(|v| v.value.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(";")
                        })
                        .unwrap_or_default()
                };
                w.write_record([
                    m.entity_id.as_str(),
                    &m.slug,
                    m.name().unwrap_or(""),
                    m.text(Field::EntityClass).unwrap_or(""),
                    m.text(Field::Address).unwrap_or(""),
                    m.text(Field::Locality).unwrap_or(""),
                    m.text(Field::Postcode).unwrap_or(""),
                    &lat,
                    &lon,
                    m.text(Field::Phone).unwrap_or(""),
                    m.text(Field::Website).unwrap_or(""),
                    &list(Field::Sports),
                    &m.sources.join(";"),
                    &format!("{:.0}", m.completeness_pct()),
                ])?;
            }
            w.flush()?;
        }
        Format::Geojson => {
            let features: Vec<Value> = entities
                .iter()
                .map(|m| {
                    let geometry = m
                        .coordinates()
                        .map(|(lat, lon)| json!({"type": "Point", "coordinates": [lon, lat]}))
                        .unwrap_or(Value::Null);
                    let mut props = entity_json(m);
                    if let Some(f) = props.get_mut("fields").and_then(Value::as_object_mut) {
                        f.remove("coordinates");
                    }
                    json!({"type": "Feature", "id": m.entity_id, "geometry": geometry, "properties": props})
                })
                .collect();
            let doc = json!({"type": "FeatureCollection", "features": features});
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Table => {
            if entities.is_empty() {
                println!(
                    "no entities{}",
                    if filter != EntityFilter::default() {
                        " match"
                    } else {
                        " yet"
                    }
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<40}  {:<40}  {:<16}  {:>8}  {:>9}  SOURCES",
                "SLUG", "NAME", "CLASS", "COMPLETE", "CONFLICTS"
            );
            for m in &entities {
                println!(
                    "{:<40}  {:<40}  {:<16}  {:>7.0}%  {:>9}  {}",
                    clip(&m.slug, 40),
                    clip(m.name().unwrap_or("(no name)"), 40),
                    clip(m.text(Field::EntityClass).unwrap_or("-"), 16),
                    m.completeness_pct(),
                    m.conflicts().len(),
                    m.sources.join(", ")
                );
            }
            println!("{} entities", entities.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// At most `n` characters of `s` (with … when cut).
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Every conflicting pair of values (`conflicts --json`, `GET /api/conflicts`), merged
/// with the projections' own policy.
pub fn conflict_rows(db: &ProjectionDb, store: &dyn EventStore) -> Result<Vec<ConflictRow>> {
    Ok(db.conflicts(store, &project::stored_policy(db)?)?)
}

pub fn conflicts(data_dir: &Place, trust: Option<&Path>, args: ConflictsArgs) -> Result<ExitCode> {
    let policy = project::load_policy(trust, data_dir)?;
    let db = project::open_for_reading(data_dir, &policy)?;
    let store = project::log_for_reading(data_dir)?;
    let rows = conflict_rows(&db, &*store)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no conflicts");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<36}  {:<14}  {:<44}  OTHER", "ENTITY", "FIELD", "WINNER");
    for r in &rows {
        println!(
            "{:<36}  {:<14}  {:<44}  {}",
            clip(&r.slug, 36),
            r.field,
            clip(
                &format!(
                    "{} {:.2} {}",
                    r.winner_source, r.winner_trust, r.winner_value
                ),
                44
            ),
            clip(
                &format!("{} {:.2} {}", r.other_source, r.other_trust, r.other_value),
                60
            )
        );
    }
    println!(
        "{} conflicting values (sources within {:.2} trust that disagree); set the right \
         value with an override, or adjust the trust policy",
        rows.len(),
        policy.conflict_trust_gap_max()
    );
    Ok(ExitCode::SUCCESS)
}
