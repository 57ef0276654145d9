//! How rows are stored: entities as a few query columns plus a compact `merged` document,
//! candidates as plain columns.
//!
//! The compact document leaves out what the row's columns already hold (ids, slug, seqs,
//! sources, completeness), names each field's source by its index in the row's source
//! list, and keeps a multi-valued field's elements only (its value is their union, rebuilt
//! on read with the same function the merge uses). On the shipped fixtures that is about
//! a quarter of the plain JSON of [`MergedEntity`] (ADR 0004). Decoding gives back exactly
//! the `MergedEntity` that was encoded (a test checks the round trip).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::fields::Field;
use crate::merge::{union_value, Element, FieldValue, MergedEntity};
use crate::policy::Tier;
use crate::state::EntityState;
use crate::values::fold_words;

/// The source index that stands for an admin override (not a member's source).
const ADMIN_INDEX: i64 = -1;

fn tier_code(t: Tier) -> &'static str {
    match t {
        Tier::Crowdsourced => "c",
        Tier::Official => "o",
        Tier::Admin => "a",
    }
}

fn tier_of(code: &str) -> Option<Tier> {
    match code {
        "c" => Some(Tier::Crowdsourced),
        "o" => Some(Tier::Official),
        "a" => Some(Tier::Admin),
        _ => None,
    }
}

fn source_index(sources: &[String], source: &str) -> i64 {
    sources
        .iter()
        .position(|s| s == source)
        .map_or(ADMIN_INDEX, |i| i as i64)
}

/// An external id element `{"source", "id"}` as the pair `[source, id]`.
fn element_value(field: Field, v: &Value) -> Value {
    match (field, v.get("source"), v.get("id")) {
        (Field::ExternalIds, Some(s), Some(id)) => json!([s, id]),
        _ => v.clone(),
    }
}

fn element_value_back(field: Field, v: &Value) -> Value {
    match (field, v) {
        (Field::ExternalIds, Value::Array(pair)) if pair.len() == 2 => {
            json!({"source": pair[0], "id": pair[1]})
        }
        _ => v.clone(),
    }
}

/// The compact `merged` document of an entity: `[n_candidates, [field entries]]`, each
/// entry `[field, value, source, tier, trust, confidence, conflict]`, or for a
/// multi-valued field `[field, null, source, tier, trust, confidence, conflict,
/// [[element, [source indices], support], ...]]`. Written straight into one buffer: a
/// rebuild or a re-merge encodes every entity.
pub fn encode_merged(m: &MergedEntity) -> String {
    let sources = &m.sources;
    let mut out: Vec<u8> = Vec::with_capacity(256);
    // Writing JSON of plain values into a Vec cannot fail.
    let put = |out: &mut Vec<u8>, v: &Value| {
        serde_json::to_writer(&mut *out, v).expect("values serialise");
    };
    out.push(b'[');
    num(&mut out, m.n_candidates as i64);
    out.extend_from_slice(b",[");
    for (i, (field, v)) in m.values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let src = if v.source == crate::merge::ADMIN_SOURCE && v.tier == Tier::Admin {
            ADMIN_INDEX
        } else {
            source_index(sources, &v.source)
        };
        out.extend_from_slice(b"[\"");
        out.extend_from_slice(field.as_str().as_bytes());
        out.extend_from_slice(b"\",");
        if field.is_multi_valued() && !v.elements.is_empty() {
            out.extend_from_slice(b"null");
        } else {
            put(&mut out, &v.value);
        }
        out.push(b',');
        num(&mut out, src);
        out.extend_from_slice(b",\"");
        out.extend_from_slice(tier_code(v.tier).as_bytes());
        out.extend_from_slice(b"\",");
        float(&mut out, v.trust);
        out.push(b',');
        float(&mut out, v.confidence);
        out.extend_from_slice(if v.conflict { b",1" } else { b",0" });
        if !v.elements.is_empty() {
            out.extend_from_slice(b",[");
            for (j, e) in v.elements.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.push(b'[');
                put(&mut out, &element_value(*field, &e.value));
                out.extend_from_slice(b",[");
                for (k, s) in e.sources.iter().enumerate() {
                    if k > 0 {
                        out.push(b',');
                    }
                    num(&mut out, source_index(sources, s));
                }
                out.extend_from_slice(b"],");
                float(&mut out, e.support);
                out.push(b']');
            }
            out.push(b']');
        }
        out.push(b']');
    }
    out.extend_from_slice(b"]]");
    // Only JSON (UTF-8) was written.
    String::from_utf8(out).expect("JSON is UTF-8")
}

fn num(out: &mut Vec<u8>, n: i64) {
    // Writing into a Vec cannot fail.
    serde_json::to_writer(out, &n).expect("numbers serialise");
}

fn float(out: &mut Vec<u8>, x: f64) {
    serde_json::to_writer(out, &x).expect("numbers serialise");
}

/// The columns of an entity row that [`decode_merged`] needs besides the document.
pub struct EntityColumns<'a> {
    pub entity_id: &'a str,
    pub slug: &'a str,
    pub founded_seq: u64,
    pub updated_seq: u64,
    pub sources: Vec<String>,
    pub completeness: u32,
}

/// The [`MergedEntity`] an [`encode_merged`] document stands for; `Err` names what is
/// malformed.
pub fn decode_merged(cols: EntityColumns<'_>, text: &str) -> Result<MergedEntity, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let top = doc
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or("not [n, fields]")?;
    let n_candidates = top[0].as_u64().ok_or("n_candidates is not a number")? as usize;
    let entries = top[1].as_array().ok_or("fields is not a list")?;
    let sources = cols.sources;
    let source_at = |v: &Value| -> Result<String, String> {
        match v.as_i64() {
            Some(ADMIN_INDEX) => Ok(crate::merge::ADMIN_SOURCE.to_string()),
            Some(i) if i >= 0 && (i as usize) < sources.len() => Ok(sources[i as usize].clone()),
            _ => Err(format!("source index {v} is out of range")),
        }
    };
    let mut values = BTreeMap::new();
    for entry in entries {
        let e = entry
            .as_array()
            .filter(|e| e.len() == 7 || e.len() == 8)
            .ok_or("a field entry has the wrong length")?;
        let field: Field = e[0]
            .as_str()
            .ok_or("a field name is not text")?
            .parse()
            .map_err(|err: crate::fields::UnknownField| err.to_string())?;
        let mut elements = Vec::new();
        if let Some(list) = e.get(7) {
            for el in list.as_array().ok_or("elements are not a list")? {
                let el = el
                    .as_array()
                    .filter(|el| el.len() == 3)
                    .ok_or("an element has the wrong length")?;
                let srcs = el[1]
                    .as_array()
                    .ok_or("element sources are not a list")?
                    .iter()
                    .map(&source_at)
                    .collect::<Result<Vec<_>, _>>()?;
                elements.push(Element {
                    value: element_value_back(field, &el[0]),
                    sources: srcs,
                    support: el[2].as_f64().ok_or("support is not a number")?,
                });
            }
        }
        let value = if e[1].is_null() && !elements.is_empty() {
            union_value(field, &elements)
        } else {
            e[1].clone()
        };
        values.insert(
            field,
            FieldValue {
                value,
                source: source_at(&e[2])?,
                tier: e[3].as_str().and_then(tier_of).ok_or("unknown tier code")?,
                trust: e[4].as_f64().ok_or("trust is not a number")?,
                confidence: e[5].as_f64().ok_or("confidence is not a number")?,
                conflict: e[6].as_u64().ok_or("conflict is not 0 or 1")? != 0,
                elements,
            },
        );
    }
    Ok(MergedEntity {
        entity_id: cols.entity_id.to_string(),
        slug: cols.slug.to_string(),
        founded_seq: cols.founded_seq,
        updated_seq: cols.updated_seq,
        values,
        provenance: Vec::new(),
        sources,
        n_candidates,
        completeness_present: cols.completeness,
    })
}

/// An `entities` row, ready to bind.
pub struct EntityRow {
    pub entity_id: String,
    pub slug: String,
    pub name: Option<String>,
    /// The name folded to lowercase ASCII words (empty without a name): listings sort by
    /// it, the same on every engine and in every locale.
    pub sort_name: String,
    pub entity_class: Option<String>,
    pub locality: Option<String>,
    pub postcode: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub sources: String,
    pub n_sources: i64,
    pub completeness: i64,
    pub conflicts: String,
    pub founded_seq: i64,
    pub updated_seq: i64,
    /// `None` when the entity has no override.
    pub overrides: Option<String>,
    pub merged: String,
}

impl EntityRow {
    pub fn new(m: &MergedEntity, es: &EntityState) -> EntityRow {
        let (lat, lon) = m.coordinates().unzip();
        let text = |f: Field| m.text(f).map(str::to_string);
        EntityRow {
            entity_id: m.entity_id.clone(),
            slug: m.slug.clone(),
            name: m.name().map(str::to_string),
            sort_name: sort_name(m.name()),
            entity_class: text(Field::EntityClass),
            locality: text(Field::Locality),
            postcode: text(Field::Postcode),
            lat,
            lon,
            sources: super::to_json(&m.sources),
            n_sources: m.sources.len() as i64,
            completeness: i64::from(m.completeness_present),
            conflicts: super::to_json(&m.conflicts()),
            founded_seq: m.founded_seq as i64,
            updated_seq: m.updated_seq as i64,
            overrides: (!es.overrides.is_empty()).then(|| super::to_json(&es.overrides)),
            merged: encode_merged(m),
        }
    }
}

impl EntityRow {
    /// A row holding only an entity's fold state (slug, seqs, overrides), its values not
    /// merged yet: what a rebuild writes while folding, before its one merge pass.
    pub fn unmerged(es: &EntityState) -> EntityRow {
        EntityRow {
            entity_id: es.entity_id.clone(),
            slug: es.slug.clone(),
            name: None,
            sort_name: String::new(),
            entity_class: None,
            locality: None,
            postcode: None,
            lat: None,
            lon: None,
            sources: "[]".into(),
            n_sources: 0,
            completeness: 0,
            conflicts: "[]".into(),
            founded_seq: es.founded_seq as i64,
            updated_seq: es.updated_seq as i64,
            overrides: (!es.overrides.is_empty()).then(|| super::to_json(&es.overrides)),
            merged: "[0,[]]".into(),
        }
    }
}

/// What listings sort a name by: its words folded to lowercase without accents.
pub fn sort_name(name: Option<&str>) -> String {
    fold_words(name.unwrap_or("")).join(" ")
}

/// The words `entities --search` matches: of the name, slug, locality and postcode.
pub fn search_words(
    name: Option<&str>,
    slug: &str,
    locality: Option<&str>,
    postcode: Option<&str>,
) -> Vec<String> {
    fold_words(&format!(
        "{} {} {} {}",
        name.unwrap_or(""),
        slug,
        locality.unwrap_or(""),
        postcode.unwrap_or("")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::ADMIN_SOURCE;

    fn fv(value: Value, source: &str, tier: Tier, elements: Vec<Element>) -> FieldValue {
        FieldValue {
            value,
            source: source.into(),
            tier,
            trust: 0.95,
            confidence: 0.559,
            conflict: true,
            elements,
        }
    }

    #[test]
    fn a_merged_entity_survives_the_compact_form_unchanged() {
        let sources = vec!["google_places".to_string(), "serper".to_string()];
        let cats = vec![
            Element {
                value: json!("pitch"),
                sources: sources.clone(),
                support: 1.0,
            },
            Element {
                value: json!("five_a_side"),
                sources: vec!["serper".into()],
                support: 0.383,
            },
        ];
        let ids = vec![Element {
            value: json!({"source": "google_places", "id": "ChIJ1"}),
            sources: vec!["google_places".into()],
            support: 0.5,
        }];
        let mut values = BTreeMap::new();
        values.insert(
            Field::Name,
            fv(
                json!("Powerleague"),
                "google_places",
                Tier::Official,
                vec![],
            ),
        );
        values.insert(
            Field::Phone,
            fv(json!("+441310000000"), ADMIN_SOURCE, Tier::Admin, vec![]),
        );
        values.insert(
            Field::Coordinates,
            fv(
                json!({"lat": 55.9, "lon": -3.1}),
                "serper",
                Tier::Crowdsourced,
                vec![],
            ),
        );
        values.insert(
            Field::Categories,
            fv(
                union_value(Field::Categories, &cats),
                "serper",
                Tier::Crowdsourced,
                cats,
            ),
        );
        values.insert(
            Field::ExternalIds,
            fv(
                union_value(Field::ExternalIds, &ids),
                "google_places",
                Tier::Official,
                ids,
            ),
        );
        let m = MergedEntity {
            entity_id: "e_1".into(),
            slug: "powerleague".into(),
            founded_seq: 3,
            updated_seq: 9,
            values,
            provenance: vec![],
            sources: sources.clone(),
            n_candidates: 4,
            completeness_present: 6,
        };
        let text = encode_merged(&m);
        let back = decode_merged(
            EntityColumns {
                entity_id: "e_1",
                slug: "powerleague",
                founded_seq: 3,
                updated_seq: 9,
                sources,
                completeness: 6,
            },
            &text,
        )
        .unwrap();
        assert_eq!(back, m);
        assert!(
            text.len() * 2 < serde_json::to_string(&m).unwrap().len(),
            "{} vs {}",
            text.len(),
            serde_json::to_string(&m).unwrap().len()
        );
    }

    #[test]
    fn a_malformed_document_is_an_error_not_a_panic() {
        for text in [
            "",
            "{}",
            "[1]",
            "[1, [[\"name\"]]]",
            "[1, [[\"nope\",1,0,\"o\",1,1,0]]]",
        ] {
            let cols = EntityColumns {
                entity_id: "e",
                slug: "s",
                founded_seq: 1,
                updated_seq: 1,
                sources: vec![],
                completeness: 0,
            };
            assert!(decode_merged(cols, text).is_err(), "{text}");
        }
    }
}
