//! OpenStreetMap through the Overpass API (`[out:json]`): `{"elements":[...]}` with
//! nodes (`lat`, `lon`), ways and relations, each with `tags`.
//!
//! Only elements with a `name` tag are places. Bare geometry nodes (no tags: the corners
//! of ways, fetched with `>;`) are not places and are not counted as skipped; a tagged
//! element without a usable name is skipped with its reason.
//!
//! Where a place is:
//! - a node: its `lat`/`lon`;
//! - a way: its `center` (from `out center`), else the centroid of those of its `nodes[]`
//!   whose coordinates appear as node elements in the same response (a closed way repeats
//!   its first node at the end; the repeat is not counted twice). A way with neither is
//!   skipped with the reason;
//! - a relation: its `center`, else it is skipped (resolving members' members is not worth
//!   it for the handful of multipolygon venues).
//!
//! External id: `node/<id>`, `way/<id>`, `relation/<id>`. The tags `wikidata` and `ref:*`
//! are recorded in `external_ids` under their tag names.

use std::collections::HashMap;

use serde_json::{Map, Value};
use trustfold_events::{CandidateFields, EvDetails};

use super::common::{
    at, categories_from, count, entity_class_for, member, number, parse_payload, phone, quote,
    text, Records,
};
use super::{ExtractError, Extraction, Extractor};
use trustfold_normalize::phone::Region;
use trustfold_normalize::{
    address::{address_line, locality},
    geo::coordinates,
    postcode::postcode,
    text::{display_name, free_text, required_name, TEXT_CHARS_MAX},
    web::{email, website},
};

/// The Overpass (OpenStreetMap) extractor.
pub struct OverpassExtractor;

impl Extractor for OverpassExtractor {
    fn source(&self) -> &'static str {
        "openstreetmap"
    }

    fn version(&self) -> u32 {
        1
    }

    fn extract(&self, body: &[u8], region: Option<Region>) -> Result<Extraction, ExtractError> {
        let doc = parse_payload(body, self.source())?;
        let elements = doc
            .get("elements")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ExtractError(
                    "openstreetmap: the payload has no `elements` array (not an Overpass \
                     [out:json] answer)"
                        .to_string(),
                )
            })?;
        let nodes = node_positions(elements);
        let mut out = Records::new();
        // Overpass reports a query cut short (timeout, memory) in `remark`, with partial
        // elements: the missing ones are records left out, so the report says so.
        if let Some(remark) = text(member(&doc, "remark")) {
            out.skip(format!("overpass remark: {}", quote(&remark, 200)));
        }
        for (i, el) in elements.iter().enumerate() {
            let kind = text(member(el, "type")).unwrap_or_default();
            let id = count(member(el, "id"));
            let external_id = match (kind.as_str(), id) {
                ("node" | "way" | "relation", Some(id)) => Some(format!("{kind}/{id}")),
                _ => None,
            };
            let tags = el.get("tags").and_then(Value::as_object);
            let Some(tags) = tags.filter(|t| !t.is_empty()) else {
                // Untagged: bare geometry, or something that is not an element at all.
                if external_id.is_none() && el.as_object().is_some_and(|o| !o.is_empty()) {
                    out.skip(format!("{}: no type and id", at("element", i, None)));
                }
                continue;
            };
            let Some(external_id) = external_id else {
                out.skip(format!("{}: no type and id", at("element", i, None)));
                continue;
            };
            match element_fields(el, &kind, tags, &nodes, region) {
                Ok(fields) => out.push(external_id, fields),
                Err(why) => out.skip(format!("{}: {why}", at("element", i, Some(&external_id)))),
            }
        }
        Ok(out.finish())
    }
}

/// The position of every node element with valid coordinates, by id.
fn node_positions(elements: &[Value]) -> HashMap<u64, (f64, f64)> {
    elements
        .iter()
        .filter(|e| e.get("type").and_then(Value::as_str) == Some("node"))
        .filter_map(|e| {
            let id = count(member(e, "id"))?;
            let (lat, lon) = (number(member(e, "lat"))?, number(member(e, "lon"))?);
            coordinates(lat, lon).ok().map(|p| (id, p))
        })
        .collect()
}

/// A `center` member's position.
fn center(el: &Value) -> Option<Result<(f64, f64), String>> {
    let c = member(el, "center")?;
    match (number(member(c, "lat")), number(member(c, "lon"))) {
        (Some(lat), Some(lon)) => Some(coordinates(lat, lon)),
        _ => Some(Err("center without lat and lon".to_string())),
    }
}

/// Where the element is; `Err` says why it cannot be placed.
fn position(
    el: &Value,
    kind: &str,
    nodes: &HashMap<u64, (f64, f64)>,
) -> Result<(f64, f64), String> {
    if let Some(c) = center(el) {
        return c;
    }
    match kind {
        "node" => match (number(member(el, "lat")), number(member(el, "lon"))) {
            (Some(lat), Some(lon)) => coordinates(lat, lon),
            _ => Err("no coordinates".to_string()),
        },
        "way" => {
            let Some(refs) = el.get("nodes").and_then(Value::as_array) else {
                return Err("no center and no nodes".to_string());
            };
            let mut ids: Vec<u64> = refs.iter().filter_map(|r| count(Some(r))).collect();
            if ids.len() > 1 && ids.first() == ids.last() {
                ids.pop();
            }
            let found: Vec<(f64, f64)> =
                ids.iter().filter_map(|id| nodes.get(id)).copied().collect();
            if found.is_empty() {
                return Err(format!(
                    "no center and none of its {} nodes in the response",
                    refs.len()
                ));
            }
            let n = found.len() as f64;
            let lat = found.iter().map(|p| p.0).sum::<f64>() / n;
            let lon = found.iter().map(|p| p.1).sum::<f64>() / n;
            coordinates(lat, lon)
        }
        _ => Err("no center".to_string()),
    }
}

/// A tag's value, if it is a string.
fn tag<'a>(tags: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    tags.get(key).and_then(Value::as_str)
}

/// The first of `keys` whose value the normaliser accepts.
fn first_valid(
    tags: &Map<String, Value>,
    keys: &[&str],
    normalise: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    keys.iter().find_map(|k| tag(tags, k).and_then(&normalise))
}

/// OSM `socket:*` keys and the connector names Open Charge Map uses for them, so the two
/// sources' connector lists compare. Unknown socket keys are kept under their own name.
const SOCKETS: &[(&str, &str)] = &[
    ("type2", "Type 2 (Socket Only)"),
    ("type2_cable", "Type 2 (Tethered Connector)"),
    ("type2_combo", "CCS (Type 2)"),
    ("chademo", "CHAdeMO"),
    ("type1", "Type 1 (J1772)"),
    ("type1_combo", "CCS (Type 1)"),
    ("tesla_supercharger", "Tesla Supercharger"),
    ("bs1363", "BS1363 3 Pin 13 Amp"),
    ("uk", "BS1363 3 Pin 13 Amp"),
    ("schuko", "Europlug 2-Pin (CEE 7/16)"),
    ("cee_blue", "Blue Commando (2P+E)"),
];

/// A power value in kW from an OSM `*:output` tag: "22 kW", "50kW", "7.4", "3700 W".
fn power_kw(v: &str) -> Option<f64> {
    let v = v.trim().to_ascii_lowercase();
    let (num, scale) = if let Some(n) = v.strip_suffix("kw") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("kva") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('w') {
        (n, 0.001)
    } else {
        (v.as_str(), 1.0)
    };
    let kw = num.trim().parse::<f64>().ok()? * scale;
    (kw.is_finite() && kw > 0.0 && kw < 10_000.0).then_some(kw)
}

/// A charging station's details from its `socket:*`, `capacity` and `operator` tags.
fn ev_details(tags: &Map<String, Value>) -> EvDetails {
    let mut ev = EvDetails::default();
    for (key, value) in tags {
        let Some(socket) = key.strip_prefix("socket:") else {
            continue;
        };
        let Some(value) = value.as_str() else {
            continue;
        };
        match socket.split_once(':') {
            Some((_, "output")) => {
                let kw = value
                    .split(';')
                    .filter_map(power_kw)
                    .fold(None, |m: Option<f64>, k| Some(m.map_or(k, |m| m.max(k))));
                if let Some(kw) = kw {
                    ev.power_kw_max = Some(ev.power_kw_max.map_or(kw, |m| m.max(kw)));
                }
            }
            Some(_) => {}
            None => {
                let present = value == "yes" || value.trim().parse::<u32>().is_ok_and(|n| n > 0);
                if present {
                    let name = SOCKETS
                        .iter()
                        .find(|(k, _)| *k == socket)
                        .map_or(socket, |(_, n)| *n);
                    ev.connector_types.push(quote(name, 64));
                }
            }
        }
    }
    ev.points = tag(tags, "capacity").and_then(|c| c.trim().parse().ok());
    ev.operator = tag(tags, "operator").and_then(display_name);
    ev
}

/// One named element's canonical fields; `Err` is why it is skipped.
fn element_fields(
    el: &Value,
    kind: &str,
    tags: &Map<String, Value>,
    nodes: &HashMap<u64, (f64, f64)>,
    region: Option<Region>,
) -> Result<CandidateFields, String> {
    let name = required_name(tag(tags, "name"))?;
    let (lat, lon) = position(el, kind, nodes)?;
    let mut f = CandidateFields {
        name: Some(name),
        lat: Some(lat),
        lon: Some(lon),
        ..CandidateFields::default()
    };

    // Address: "addr:housename" as its own line, then number and street.
    let street = match (tag(tags, "addr:housenumber"), tag(tags, "addr:street")) {
        (Some(n), Some(s)) => Some(format!("{n} {s}")),
        (None, Some(s)) => Some(s.to_string()),
        _ => tag(tags, "addr:place").map(str::to_string),
    };
    f.address_lines = [tag(tags, "addr:housename").map(str::to_string), street]
        .into_iter()
        .flatten()
        .filter_map(|l| address_line(&l))
        .collect();
    f.locality = first_valid(tags, &["addr:city", "addr:town", "addr:village"], locality);
    f.postcode = tag(tags, "addr:postcode").and_then(postcode);
    f.country = Some(
        tag(tags, "addr:country")
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| c.len() == 2 && c.chars().all(|c| c.is_ascii_uppercase()))
            .unwrap_or_else(|| "GB".to_string()),
    );
    f.phone = first_valid(tags, &["phone", "contact:phone"], |t| phone(t, region));
    f.email = first_valid(tags, &["email", "contact:email"], email);
    f.website = first_valid(tags, &["website", "contact:website", "url"], website);
    for network in ["facebook", "instagram", "twitter"] {
        let keys = [format!("contact:{network}"), network.to_string()];
        let handle = keys
            .iter()
            .find_map(|k| tag(tags, k).and_then(|v| free_text(v, 200)));
        if let Some(handle) = handle {
            f.socials.insert(network.to_string(), handle);
        }
    }
    // OSM's opening_hours syntax is a standard of its own: kept as written.
    f.opening_hours = tag(tags, "opening_hours").and_then(|h| free_text(h, TEXT_CHARS_MAX));
    f.description = tag(tags, "description").and_then(|d| free_text(d, TEXT_CHARS_MAX));

    // Categories and sports from the tags that say what a place is.
    let mut labels: Vec<String> = ["leisure", "sport", "amenity"]
        .iter()
        .filter_map(|k| tag(tags, k).map(str::to_string))
        .collect();
    if tag(tags, "club") == Some("sport") {
        labels.push("sports club".to_string());
    }
    // leisure=track is any track (horses, cars); with an athletics sport it is ours.
    let sport = tag(tags, "sport").unwrap_or("");
    if tag(tags, "leisure") == Some("track")
        && sport
            .split(';')
            .any(|s| matches!(s.trim(), "athletics" | "running"))
    {
        labels.push("athletics track".to_string());
    }
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let (categories, sports) = categories_from(&label_refs);
    f.categories = categories;
    f.sports = sports;

    if tag(tags, "amenity") == Some("charging_station") {
        f.entity_class = Some("ev_charger".to_string());
        f.ev = Some(ev_details(tags));
    } else {
        f.entity_class = Some(entity_class_for(&f.categories).to_string());
    }

    for (key, value) in tags {
        if key == "wikidata" || key.starts_with("ref:") {
            if let Some(v) = value.as_str().and_then(|v| free_text(v, 100)) {
                f.external_ids.entry(key.clone()).or_default().push(v);
            }
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::common::test_support::{arbitrary_json, assert_never_panics};
    use proptest::prelude::*;
    use serde_json::json;
    use trustfold_normalize::geo::haversine_km;

    const WORLD: &[u8] = include_bytes!("../../fixtures/world/openstreetmap.json");

    fn find<'a>(e: &'a Extraction, id: &str) -> &'a CandidateFields {
        &e.records
            .iter()
            .find(|r| r.external_id == id)
            .expect(id)
            .fields
    }

    #[test]
    fn world_fixture() {
        let e = OverpassExtractor.extract(WORLD, Some(Region::GB)).unwrap();
        assert_eq!(
            e,
            OverpassExtractor.extract(WORLD, Some(Region::GB)).unwrap(),
            "deterministic"
        );
        // 133 named elements (13 nodes, 111 ways, 9 relations); the 2003 bare nodes are
        // geometry, neither records nor skipped.
        assert_eq!(e.records.len(), 133);
        assert!(e.skipped.is_empty(), "{:?}", e.skipped);
        let kinds = |k: &str| {
            e.records
                .iter()
                .filter(|r| r.external_id.starts_with(k))
                .count()
        };
        assert_eq!(
            (kinds("node/"), kinds("way/"), kinds("relation/")),
            (13, 111, 9)
        );

        // The seed case: a way with `nodes[]` only, placed at the centroid of its nodes.
        let pl = find(&e, "way/1080707333");
        assert_eq!(pl.name.as_deref(), Some("Powerleague Portobello"));
        assert_eq!(pl.address_lines, vec!["10 Westbank Street"]);
        assert_eq!(pl.postcode.as_deref(), Some("EH15 1DR"));
        assert_eq!(pl.locality.as_deref(), Some("Edinburgh"));
        assert_eq!(
            pl.website.as_deref(),
            Some("https://www.powerleague.com/club/edinburgh-portobello")
        );
        assert_eq!(pl.categories, vec!["pitch"]);
        assert_eq!(pl.sports, vec!["football"]);
        let off_m = haversine_km((pl.lat.unwrap(), pl.lon.unwrap()), (55.95656, -3.11932)) * 1000.0;
        assert!(off_m < 100.0, "{off_m} m from the register's point");

        // A relation in `out center` form, with phone, email and address tags.
        let mortonhall = find(&e, "relation/2859930");
        assert_eq!(mortonhall.lat, Some(55.909055));
        assert_eq!(mortonhall.phone.as_deref(), Some("+441314476974"));
        assert_eq!(mortonhall.email.as_deref(), Some("info@mortonhallgc.co.uk"));
        assert_eq!(mortonhall.address_lines, vec!["231 Braid Road"]);
        assert_eq!(mortonhall.categories, vec!["golf_course"]);
        assert_eq!(mortonhall.sports, vec!["golf"]);
        assert_eq!(mortonhall.description.as_deref(), Some("18 hole Par 72"));

        let with_wikidata = e
            .records
            .iter()
            .filter(|r| r.fields.external_ids.contains_key("wikidata"))
            .count();
        assert_eq!(with_wikidata, 21);
        assert!(e
            .records
            .iter()
            .any(|r| r.fields.socials.contains_key("twitter")));
    }

    #[test]
    fn ways_resolve_from_nodes_or_are_skipped_with_a_reason() {
        let doc = json!({"elements": [
            {"type": "node", "id": 1, "lat": 55.0, "lon": -3.0},
            {"type": "node", "id": 2, "lat": 55.0, "lon": -3.2},
            {"type": "node", "id": 3, "lat": 55.2, "lon": -3.2},
            {"type": "node", "id": 4, "lat": 55.2, "lon": -3.0},
            {"type": "way", "id": 10, "nodes": [1, 2, 3, 4, 1], "tags": {"name": "Square", "leisure": "pitch"}},
            {"type": "way", "id": 11, "nodes": [1, 99], "tags": {"name": "Half Known"}},
            {"type": "way", "id": 12, "nodes": [98, 99], "tags": {"name": "Unknown Nodes"}},
            {"type": "way", "id": 13, "tags": {"name": "No Geometry"}},
            {"type": "relation", "id": 20, "members": [], "tags": {"name": "No Center"}},
            {"type": "relation", "id": 21, "center": {"lat": 55.9, "lon": -3.1}, "tags": {"name": "Centred"}},
            {"type": "way", "id": 14, "nodes": [1, 2], "tags": {"leisure": "pitch", "sport": "tennis"}},
            {"type": "node", "id": 5, "lat": 0, "lon": 0, "tags": {"name": "Null Island"}},
            {"type": "node", "id": 6, "tags": {"name": "Floating"}},
            {"type": "area", "id": 7, "tags": {"name": "Not An Element Type"}},
            {"type": "node", "id": 8, "lat": 55.9, "lon": -3.1, "tags": {"name": "Charger",
             "amenity": "charging_station", "socket:type2": "2", "socket:type2:output": "22 kW",
             "socket:chademo": "1", "socket:chademo:output": "50 kW", "capacity": "3",
             "operator": "ChargePlace Scotland", "ref:chargepoint": "123"}}
        ]});
        let e = OverpassExtractor
            .extract(doc.to_string().as_bytes(), Some(Region::GB))
            .unwrap();
        let ids: Vec<&str> = e.records.iter().map(|r| r.external_id.as_str()).collect();
        assert_eq!(ids, vec!["way/10", "way/11", "relation/21", "node/8"]);
        let square = find(&e, "way/10");
        assert_eq!(
            (square.lat, square.lon),
            (Some(55.1), Some(-3.1)),
            "closing node counted once"
        );
        let half = find(&e, "way/11");
        assert_eq!((half.lat, half.lon), (Some(55.0), Some(-3.0)));
        assert_eq!(
            e.skipped,
            vec![
                "element 6 (way/12): no center and none of its 2 nodes in the response",
                "element 7 (way/13): no center and no nodes",
                "element 8 (relation/20): no center",
                "element 10 (way/14): no name",
                "element 11 (node/5): coordinates (0, 0): null island, a missing location",
                "element 12 (node/6): no coordinates",
                "element 13: no type and id",
            ]
        );
        let charger = find(&e, "node/8");
        assert_eq!(charger.entity_class.as_deref(), Some("ev_charger"));
        assert_eq!(charger.categories, vec!["ev_charging"]);
        let ev = charger.ev.as_ref().unwrap();
        assert_eq!(ev.connector_types, vec!["CHAdeMO", "Type 2 (Socket Only)"]);
        assert_eq!(ev.power_kw_max, Some(50.0));
        assert_eq!(ev.points, Some(3));
        assert_eq!(ev.operator.as_deref(), Some("ChargePlace Scotland"));
        assert_eq!(
            charger.external_ids.get("ref:chargepoint"),
            Some(&vec!["123".to_string()])
        );
    }

    #[test]
    fn payloads_that_are_not_overpass_are_errors() {
        let x = |s: &str| OverpassExtractor.extract(s.as_bytes(), Some(Region::GB));
        assert!(x("{}").is_err());
        assert!(x("[]").is_err());
        assert!(x(r#"{"elements": {}}"#).is_err());
        assert!(x("<osm/>").is_err());
        assert_eq!(x(r#"{"elements": []}"#).unwrap(), Extraction::default());
        let e = x(r#"{"elements": [], "remark": "runtime error: Query timed out"}"#).unwrap();
        assert_eq!(
            e.skipped,
            vec!["overpass remark: runtime error: Query timed out"]
        );
    }

    #[test]
    fn power_values() {
        assert_eq!(power_kw("22 kW"), Some(22.0));
        assert_eq!(power_kw("50kW"), Some(50.0));
        assert_eq!(power_kw("3700 W"), Some(3.7));
        assert_eq!(power_kw("7.4"), Some(7.4));
        assert_eq!(power_kw("NaN"), None);
        assert_eq!(power_kw("fast"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_payloads_never_panic(v in arbitrary_json(), bytes in any::<Vec<u8>>()) {
            let way = json!({"type": "way", "id": 1080707333, "nodes": [1, 2, 1],
                "center": {"lat": 55.9, "lon": -3.1},
                "tags": {"name": "Powerleague Portobello", "leisure": "pitch", "sport": "soccer",
                         "addr:postcode": "EH15 1DR", "socket:type2:output": "22 kW"}});
            let node = json!({"type": "node", "id": 1, "lat": 55.9, "lon": -3.1});
            assert_never_panics(&OverpassExtractor, &v, &bytes,
                &|w| json!({"elements": [node.clone(), w]}), &way);
        }
    }
}
