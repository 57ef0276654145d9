//! OpenStreetMap through the Overpass API (`[out:json]`): named features matching the
//! query's words, sports and venue kinds within the area, with way geometry resolved from
//! the nodes in the same response (`out body; >; out skel qt;`).

use super::{parse_json, Auth, BodyError, Connector, ConnectorRequest, Inspection, Method, Query};
use crate::planner::asks::OsmAsk;
use crate::source::ConnectorId;
use trustfold_normalize::geo::bbox_around;

pub struct OpenStreetMap;

/// The city's bounding box (south, west, north, east), used when no district is named.
pub const EDINBURGH_BBOX: (f64, f64, f64, f64) = (55.85, -3.45, 56.0, -3.05);

/// Overpass server-side timeout asked for, seconds.
const OVERPASS_TIMEOUT_S: u32 = 25;

/// Escapes a word for an Overpass regex literal.
fn regex_literal(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if "\\^$.|?*+()[]{}\"".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The box an area is searched in, `(south, west, north, east)`: the city's box for
/// Edinburgh itself (named or assumed), else the area's circle.
pub fn area_bbox(area: &crate::planner::Area) -> (f64, f64, f64, f64) {
    if area.name == crate::planner::areas::HOME_AREA {
        EDINBURGH_BBOX
    } else {
        bbox_around(area.lat, area.lon, area.radius_km)
    }
}

/// The Overpass QL for a query, or `None` when there is nothing to ask (the planner then
/// skips OpenStreetMap; it is never asked for everything in the area).
pub fn overpass_ql(ask: &OsmAsk, area: &crate::planner::Area) -> Option<String> {
    if ask.is_empty() {
        return None;
    }
    let (s, w, n, e) = area_bbox(area);
    let bbox = format!("({s:.5},{w:.5},{n:.5},{e:.5})");
    let mut statements = Vec::new();
    if !ask.name_words.is_empty() {
        let alternatives: Vec<String> = ask.name_words.iter().map(|w| regex_literal(w)).collect();
        statements.push(format!(
            "nwr[\"name\"~\"{}\",i]{bbox};",
            alternatives.join("|")
        ));
    }
    if !ask.sports.is_empty() {
        statements.push(format!(
            "nwr[\"sport\"~\"^({})$\"][\"name\"]{bbox};",
            ask.sports.join("|")
        ));
    }
    // One statement per key: leisure=pitch|sports_centre, amenity=library, ...
    let mut keys: Vec<&str> = Vec::new();
    for (k, _) in &ask.tags {
        if !keys.contains(k) {
            keys.push(k);
        }
    }
    for k in keys {
        let values: Vec<&str> = ask
            .tags
            .iter()
            .filter(|(key, _)| key == &k)
            .map(|(_, v)| *v)
            .collect();
        statements.push(format!(
            "nwr[\"{k}\"~\"^({})$\"][\"name\"]{bbox};",
            values.join("|")
        ));
    }
    if ask.charging {
        statements.push(format!("nwr[\"amenity\"=\"charging_station\"]{bbox};"));
    }
    Some(format!(
        "[out:json][timeout:{OVERPASS_TIMEOUT_S}];\n(\n  {}\n);\nout body;\n>;\nout skel qt;\n",
        statements.join("\n  ")
    ))
}

impl Connector for OpenStreetMap {
    fn id(&self) -> ConnectorId {
        ConnectorId::OpenStreetMap
    }

    fn default_base_url(&self) -> &'static str {
        "https://overpass-api.de"
    }

    fn auth(&self) -> Auth {
        Auth::None
    }

    fn timeout_ms(&self) -> u64 {
        30_000
    }

    fn requests(&self, base: &str, query: &Query<'_>) -> Vec<ConnectorRequest> {
        let ask = crate::planner::asks::osm(query.features);
        let Some(ql) = overpass_ql(&ask, &query.features.area_or_home()) else {
            return Vec::new();
        };
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("data", &ql)
            .finish();
        vec![ConnectorRequest {
            connector: ConnectorId::OpenStreetMap,
            method: Method::Post,
            url: format!("{}/api/interpreter", base.trim_end_matches('/')),
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Some(body),
            page: 0,
            cause: None,
        }]
    }

    fn inspect(
        &self,
        _: &ConnectorRequest,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Inspection, BodyError> {
        let doc = parse_json(content_type, body)?;
        // Overpass reports a server-side timeout or memory exhaustion as a 200 with a remark.
        if let Some(remark) = doc.get("remark").and_then(|r| r.as_str()) {
            if remark.contains("runtime error") {
                return Err(BodyError::Api {
                    status: 504,
                    message: remark.to_string(),
                });
            }
        }
        let Some(elements) = doc.get("elements").and_then(|e| e.as_array()) else {
            return Err(BodyError::Decode(
                "no \"elements\" array in the Overpass answer".into(),
            ));
        };
        // Bare geometry nodes are not places; named, tagged elements are.
        let records = elements
            .iter()
            .filter(|e| e.get("tags").and_then(|t| t.get("name")).is_some())
            .count();
        Ok(Inspection {
            records: records as u64,
            next: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::{extract_features, Mode};

    fn ql(q: &str) -> String {
        let f = extract_features(q);
        let query = Query {
            text: q,
            features: &f,
            mode: Mode::DiscoverMany,
        };
        OpenStreetMap
            .requests("http://x", &query)
            .first()
            .and_then(|r| r.body.clone())
            .map(|b| {
                form_urlencoded::parse(b.as_bytes())
                    .find(|(k, _)| k == "data")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_brand_in_a_district_searches_names_around_the_district() {
        let q = ql("powerleague portobello");
        assert!(
            q.contains("nwr[\"name\"~\"powerleague|portobello\",i]("),
            "{q}"
        );
        assert!(q.starts_with("[out:json]"));
        assert!(q.contains("out body;\n>;\nout skel qt;"));
    }

    #[test]
    fn another_city_is_searched_inside_its_own_box_and_nothing_is_asked_for_everything() {
        let q = ql("tennis courts glasgow");
        assert!(q.contains("[\"sport\"~\"^(tennis)$\"]"), "{q}");
        assert!(q.contains("(55.7"), "Glasgow's box: {q}");
        assert!(!q.contains("-3.45"), "not Edinburgh's box: {q}");
        // A query with nothing OSM can be asked is not asked at all.
        assert!(ql("?? ?").is_empty());
    }

    #[test]
    fn a_category_in_the_city_searches_sport_tags_in_the_city_box() {
        let q = ql("tennis courts edinburgh");
        assert!(
            q.contains("[\"sport\"~\"^(tennis)$\"][\"name\"](55.85000,-3.45000,56.00000,-3.05000)"),
            "{q}"
        );
    }
}
