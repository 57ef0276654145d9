//! OpenStreetMap through the Overpass API (`[out:json]`): named features matching the
//! query's words, sports and venue kinds within the area, with way geometry resolved from
//! the nodes in the same response (`out body; >; out skel qt;`).

use super::gazetteer::bbox_around;
use super::{
    parse_json, Auth, BodyError, Connector, ConnectorRequest, Inspection, Method, Query,
    SearchTerms,
};
use crate::planner::ConnectorId;

pub struct OpenStreetMap;

/// The city's bounding box (south, west, north, east), used when no district is named.
pub const EDINBURGH_BBOX: (f64, f64, f64, f64) = (55.85, -3.45, 56.0, -3.05);

/// Overpass server-side timeout asked for, seconds.
const OVERPASS_TIMEOUT_S: u32 = 25;

/// OSM `sport=*` values for the planner's sports.
fn osm_sport(sport: &str) -> Option<&'static str> {
    Some(match sport {
        "football" => "soccer",
        "tennis" => "tennis",
        "padel" => "padel",
        "swimming" => "swimming",
        "golf" => "golf",
        "athletics" => "athletics",
        "rugby" => "rugby_union",
        "hockey" => "field_hockey",
        "ice_hockey" => "ice_hockey",
        "squash" => "squash",
        "badminton" => "badminton",
        "basketball" => "basketball",
        "netball" => "netball",
        "cricket" => "cricket",
        "climbing" => "climbing",
        "table_tennis" => "table_tennis",
        "volleyball" => "volleyball",
        "cycling" => "cycling",
        _ => return None,
    })
}

/// OSM `leisure=*` values for the planner's venue words.
fn osm_leisure(venue: &str) -> Option<&'static str> {
    Some(match venue {
        "leisure centre" | "sports centre" | "soccer centre" | "tennis centre" => "sports_centre",
        "pool" | "swim centre" | "lido" => "swimming_pool",
        "pitch" | "playing field" => "pitch",
        "stadium" | "arena" => "stadium",
        "gym" | "fitness centre" | "health club" => "fitness_centre",
        "golf course" | "driving range" => "golf_course",
        "ice rink" => "ice_rink",
        "track" | "velodrome" => "track",
        "sports hall" => "sports_hall",
        "bowling green" => "bowling_green",
        _ => return None,
    })
}

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

/// The Overpass QL for a query.
pub fn overpass_ql(terms: &SearchTerms, named_area: bool) -> String {
    let (s, w, n, e) = if named_area {
        bbox_around(terms.centre.0, terms.centre.1, terms.radius_km)
    } else {
        EDINBURGH_BBOX
    };
    let bbox = format!("({s:.5},{w:.5},{n:.5},{e:.5})");
    let mut statements = Vec::new();
    if !terms.name_words.is_empty() {
        let alternatives: Vec<String> = terms.name_words.iter().map(|w| regex_literal(w)).collect();
        statements.push(format!(
            "nwr[\"name\"~\"{}\",i]{bbox};",
            alternatives.join("|")
        ));
    }
    let sports: Vec<&str> = terms.sports.iter().filter_map(|s| osm_sport(s)).collect();
    if !sports.is_empty() {
        statements.push(format!(
            "nwr[\"sport\"~\"^({})$\"][\"name\"]{bbox};",
            sports.join("|")
        ));
    }
    let mut leisure: Vec<&str> = terms
        .venue_words
        .iter()
        .filter_map(|v| osm_leisure(v))
        .collect();
    leisure.dedup();
    if !leisure.is_empty() {
        statements.push(format!(
            "nwr[\"leisure\"~\"^({})$\"][\"name\"]{bbox};",
            leisure.join("|")
        ));
    }
    if terms.ev {
        statements.push(format!("nwr[\"amenity\"=\"charging_station\"]{bbox};"));
    }
    if statements.is_empty() {
        // Nothing specific: named sports facilities of the area.
        statements.push(format!("nwr[\"leisure\"~\"^(sports_centre|pitch|stadium|fitness_centre|swimming_pool)$\"][\"name\"]{bbox};"));
    }
    format!(
        "[out:json][timeout:{OVERPASS_TIMEOUT_S}];\n(\n  {}\n);\nout body;\n>;\nout skel qt;\n",
        statements.join("\n  ")
    )
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
        let terms = SearchTerms::from_query(query);
        let named_area = query.features.areas.iter().any(|a| a != "edinburgh");
        let ql = overpass_ql(&terms, named_area);
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
        overpass_ql(
            &SearchTerms::from_query(&query),
            f.areas.iter().any(|a| a != "edinburgh"),
        )
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
    fn a_category_in_the_city_searches_sport_tags_in_the_city_box() {
        let q = ql("tennis courts edinburgh");
        assert!(
            q.contains("[\"sport\"~\"^(tennis)$\"][\"name\"](55.85000,-3.45000,56.00000,-3.05000)"),
            "{q}"
        );
    }
}
