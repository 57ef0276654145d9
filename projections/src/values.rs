//! A candidate's value for each merge field, what counts as missing, and when two values
//! agree. Pure functions; the merge (`merge.rs`) builds on them.

use serde_json::{json, Map, Value};
use trustfold_events::CandidateFields;
use trustfold_normalize::{address, geo, phone, text as norm, web};

use crate::fields::Field;

/// Two coordinates closer than this are the same position for agreement and confidence.
pub const COORDINATES_AGREE_M: f64 = 100.0;

/// Two ratings closer than this agree.
pub const RATING_AGREE: f64 = 0.05;

/// Whether a text is a placeholder for "missing" ("", "N/A", "-", "unknown", ...: the
/// list extraction uses, `trustfold_normalize::text::PLACEHOLDERS`).
pub fn is_placeholder(text: &str) -> bool {
    norm::is_placeholder(&norm::clean_text(text))
}

/// What a candidate says about one field.
#[derive(Clone, Debug, PartialEq)]
pub enum Observed {
    /// The candidate has no value for the field.
    Absent,
    /// The candidate's value is a placeholder ("N/A", "-", ...): kept for provenance,
    /// counted as missing.
    Placeholder(Value),
    /// The value is not valid for its field and is kept as the source wrote it (a phone
    /// number that is not one): shown in provenance with the reason, counted as missing.
    Invalid {
        value: Value,
        reason: String,
    },
    Present(Value),
}

fn text(v: &Option<String>) -> Observed {
    match v {
        None => Observed::Absent,
        Some(s) if is_placeholder(s) => Observed::Placeholder(Value::String(s.clone())),
        Some(s) => Observed::Present(Value::String(s.trim().to_string())),
    }
}

fn list(items: &[String]) -> Observed {
    if items.is_empty() {
        return Observed::Absent;
    }
    let kept: Vec<Value> = items
        .iter()
        .filter(|s| !is_placeholder(s))
        .map(|s| Value::String(s.trim().to_string()))
        .collect();
    if kept.is_empty() {
        Observed::Placeholder(json!(items))
    } else {
        Observed::Present(Value::Array(kept))
    }
}

/// The candidate's value for `field`. `source` and `external_id` are the candidate's own
/// identity, which `external_ids` includes beside the cross-references the record names.
pub fn observe(field: Field, f: &CandidateFields, source: &str, external_id: &str) -> Observed {
    match field {
        Field::Name => text(&f.name),
        Field::EntityClass => text(&f.entity_class),
        Field::Categories => list(&f.categories),
        Field::Sports => list(&f.sports),
        Field::Address => {
            let lines: Vec<&str> = f
                .address_lines
                .iter()
                .map(|l| l.trim())
                .filter(|l| !is_placeholder(l))
                .collect();
            if lines.is_empty() {
                list(&f.address_lines)
            } else {
                Observed::Present(Value::String(lines.join(", ")))
            }
        }
        Field::Locality => text(&f.locality),
        Field::Postcode => text(&f.postcode),
        Field::Country => text(&f.country),
        Field::Coordinates => match (f.lat, f.lon) {
            (Some(lat), Some(lon)) if lat.is_finite() && lon.is_finite() => {
                Observed::Present(json!({"lat": lat, "lon": lon}))
            }
            _ => Observed::Absent,
        },
        Field::Phone => match text(&f.phone) {
            // Extraction writes a valid number in E.164 and keeps anything else as written.
            Observed::Present(Value::String(s)) if !phone::is_e164(&s) => Observed::Invalid {
                reason: phone::why_kept(&s),
                value: Value::String(s),
            },
            other => other,
        },
        Field::Email => text(&f.email),
        Field::Website => text(&f.website),
        Field::Socials => {
            let kept: Map<String, Value> = f
                .socials
                .iter()
                .filter(|(_, url)| !is_placeholder(url))
                .map(|(k, url)| (k.clone(), Value::String(url.clone())))
                .collect();
            if kept.is_empty() {
                Observed::Absent
            } else {
                Observed::Present(Value::Object(kept))
            }
        }
        Field::OpeningHours => text(&f.opening_hours),
        Field::Ev => match &f.ev {
            Some(ev)
                if !ev.connector_types.is_empty()
                    || ev.power_kw_max.is_some()
                    || ev.points.is_some()
                    || ev.operator.is_some() =>
            {
                Observed::Present(serde_json::to_value(ev).unwrap_or(Value::Null))
            }
            _ => Observed::Absent,
        },
        Field::Rating => match f.rating {
            Some(r) if r.is_finite() => Observed::Present(json!(r)),
            _ => Observed::Absent,
        },
        Field::RatingCount => match f.rating_count {
            Some(n) => Observed::Present(json!(n)),
            None => Observed::Absent,
        },
        Field::ExternalIds => {
            let mut ids: Map<String, Value> = Map::new();
            if !external_id.is_empty() {
                ids.insert(source.to_string(), json!([external_id]));
            }
            for (src, list) in &f.external_ids {
                let entry = ids.entry(src.clone()).or_insert_with(|| json!([]));
                if let Value::Array(arr) = entry {
                    for id in list.iter().filter(|id| !is_placeholder(id)) {
                        let v = Value::String(id.clone());
                        if !arr.contains(&v) {
                            arr.push(v);
                        }
                    }
                }
            }
            if ids.is_empty() {
                Observed::Absent
            } else {
                Observed::Present(Value::Object(ids))
            }
        }
        Field::Description => text(&f.description),
    }
}

/// The elements of a multi-valued field's value, as `(key, element)`: categories and
/// sports are strings; external ids are `source:id`.
pub fn elements(field: Field, value: &Value) -> Vec<(String, Value)> {
    match (field, value) {
        (Field::ExternalIds, Value::Object(map)) => map
            .iter()
            .flat_map(|(src, ids)| {
                ids.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(move |id| (format!("{src}:{id}"), json!({"source": src, "id": id})))
            })
            .collect(),
        (_, Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|s| (fold_words(s).join(" "), Value::String(s.to_string())))
            .collect(),
        _ => Vec::new(),
    }
}

/// Lowercase ASCII words of a text, every script transliterated, for comparisons, sort
/// names, slugs and search (`trustfold_normalize::text::fold_words`).
pub fn fold_words(s: &str) -> Vec<String> {
    norm::fold_words(s)
}

/// Great-circle distance in metres.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    geo::haversine_km(a, b) * 1000.0
}

fn lat_lon(v: &Value) -> Option<(f64, f64)> {
    Some((v.get("lat")?.as_f64()?, v.get("lon")?.as_f64()?))
}

/// Whether two present values of `field` say the same thing: names agree as sets of words
/// ("Powerleague Portobello" = "Portobello Powerleague", and a name within a longer one),
/// addresses with street words abbreviated, phones on their digits, websites
/// without scheme, `www.` and trailing slash, postcodes without spaces, coordinates within
/// [`COORDINATES_AGREE_M`], ratings within [`RATING_AGREE`], other text on its words.
pub fn agree(field: Field, a: &Value, b: &Value) -> bool {
    // Equal values agree under every rule below; most contending values are equal, and
    // this spares normalising them (merging every entity of a large table calls this for
    // every source of every field).
    if a == b {
        return true;
    }
    match field {
        Field::Coordinates => match (lat_lon(a), lat_lon(b)) {
            (Some(x), Some(y)) => distance_m(x, y) <= COORDINATES_AGREE_M,
            _ => false,
        },
        Field::Rating => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() < RATING_AGREE,
            _ => false,
        },
        Field::Name => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => names_agree(x, y),
            _ => a == b,
        },
        _ => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => text_key(field, x) == text_key(field, y),
            _ => a == b,
        },
    }
}

fn text_key(field: Field, s: &str) -> String {
    match field {
        Field::Phone => s.chars().filter(char::is_ascii_digit).collect(),
        Field::Postcode => s
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect(),
        Field::Website => match web::host_and_path(s) {
            Some((host, path)) => format!("{host}{path}"),
            None => s.trim().to_lowercase(),
        },
        // The street and its numbers, read the same way whatever the spelling ("St",
        // "Street"; "N." and "North"; a suite number); else the words.
        Field::Address => match address::street_address(s.split(", ")) {
            Some(a) => format!("{:?} {}", a.house_numbers(), a.street),
            None => fold_words(s).join(" "),
        },
        _ => fold_words(s).join(" "),
    }
}

/// Names agree when their sets of words are equal, or when one name's words (at least
/// two) are all in the other: "Powerleague Portobello" is "Powerleague Edinburgh
/// Portobello" with the city left out.
fn names_agree(a: &str, b: &str) -> bool {
    let set =
        |s: &str| -> std::collections::BTreeSet<String> { fold_words(s).into_iter().collect() };
    let (x, y) = (set(a), set(b));
    if x == y {
        return true;
    }
    let (small, large) = if x.len() <= y.len() {
        (&x, &y)
    } else {
        (&y, &x)
    };
    small.len() >= 2 && small.is_subset(large)
}

/// The length of a text value in characters (free text prefers the longest).
pub fn text_chars(v: &Value) -> usize {
    v.as_str().map(|s| s.chars().count()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_count_as_missing() {
        for p in ["", "  ", "N/A", "n/a", "-", "—", "None"] {
            assert!(is_placeholder(p), "{p:?}");
            let f = CandidateFields {
                phone: Some(p.to_string()),
                ..CandidateFields::default()
            };
            assert!(
                matches!(
                    observe(Field::Phone, &f, "s", "1"),
                    Observed::Placeholder(_)
                ),
                "{p:?}"
            );
        }
        assert!(!is_placeholder("0"));
        let f = CandidateFields {
            categories: vec!["n/a".into(), "-".into()],
            sports: vec!["tennis".into(), "N/A".into()],
            ..CandidateFields::default()
        };
        assert!(matches!(
            observe(Field::Categories, &f, "s", "1"),
            Observed::Placeholder(_)
        ));
        assert_eq!(
            observe(Field::Sports, &f, "s", "1"),
            Observed::Present(json!(["tennis"]))
        );
    }

    #[test]
    fn external_ids_include_the_candidates_own_id() {
        let mut f = CandidateFields::default();
        f.external_ids.insert("osm".into(), vec!["way/1".into()]);
        f.external_ids
            .insert("google_places".into(), vec!["ChIJ1".into()]);
        let Observed::Present(v) = observe(Field::ExternalIds, &f, "google_places", "ChIJ1") else {
            panic!("expected a value");
        };
        assert_eq!(v, json!({"google_places": ["ChIJ1"], "osm": ["way/1"]}));
        let keys: Vec<String> = elements(Field::ExternalIds, &v)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["google_places:ChIJ1", "osm:way/1"]);
    }

    #[test]
    fn agreement_per_field() {
        let cases = [
            (
                Field::Name,
                json!("Powerleague Portobello"),
                json!("PORTOBELLO powerleague"),
                true,
            ),
            (
                Field::Name,
                json!("Powerleague Portobello"),
                json!("Powerleague Sighthill"),
                false,
            ),
            (
                Field::Name,
                json!("Powerleague Portobello"),
                json!("Powerleague Edinburgh Portobello"),
                true,
            ),
            (
                Field::Name,
                json!("Portobello"),
                json!("Portobello Golf Course"),
                false,
            ),
            (
                Field::Address,
                json!("10 Westbank Street"),
                json!("10 Westbank St"),
                true,
            ),
            (Field::Name, json!("Café Royal"), json!("Cafe Royal"), true),
            (
                Field::Phone,
                json!("+44 131 496 0000"),
                json!("+441314960000"),
                true,
            ),
            (
                Field::Website,
                json!("https://www.x.com/"),
                json!("http://x.com"),
                true,
            ),
            (Field::Postcode, json!("EH15 1AB"), json!("eh151ab"), true),
            (
                Field::Coordinates,
                json!({"lat": 55.95, "lon": -3.1}),
                json!({"lat": 55.9505, "lon": -3.1}),
                true,
            ),
            (
                Field::Coordinates,
                json!({"lat": 55.95, "lon": -3.1}),
                json!({"lat": 55.96, "lon": -3.1}),
                false,
            ),
            (Field::Rating, json!(4.5), json!(4.52), true),
            (Field::Rating, json!(4.5), json!(4.1), false),
            (
                Field::Address,
                json!("10 Westbank St"),
                json!("10 westbank st."),
                true,
            ),
        ];
        for (field, a, b, want) in cases {
            assert_eq!(agree(field, &a, &b), want, "{field} {a} {b}");
        }
    }
}
