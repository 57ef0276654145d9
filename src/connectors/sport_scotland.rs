//! sportscotland's facility register through the Spatial Hub WFS (GeoServer
//! `GetFeature`, GeoJSON). One request per facility layer relevant to the query. The
//! register's coordinates are British National Grid; extraction converts them to WGS84.

use super::{
    parse_json, sql_quote, Auth, BodyError, Connector, ConnectorRequest, Inspection, Method, Query,
    SearchTerms,
};
use crate::planner::ConnectorId;

pub struct SportScotland;

/// Most layers asked for one query (one request each).
pub const WFS_LAYERS_MAX: usize = 4;
/// Features asked for per layer.
pub const WFS_COUNT: u32 = 200;

/// Facility layers for a sport.
fn layers_for_sport(sport: &str) -> &'static [&'static str] {
    match sport {
        "football" | "rugby" | "hockey" | "cricket" | "shinty" | "lacrosse"
        | "american_football" => &["pub_spfp"],
        "tennis" | "padel" | "pickleball" => &["pub_spfotc", "pub_spfitc"],
        "swimming" | "diving" | "water_polo" => &["pub_spfsp"],
        "golf" => &["pub_spfgc"],
        "athletics" => &["pub_spfat"],
        "ice_hockey" => &["pub_spfir"],
        "squash" => &["pub_spfsc"],
        "badminton" | "basketball" | "netball" | "volleyball" | "handball" | "table_tennis"
        | "dodgeball" => &["pub_spfsh"],
        _ => &[],
    }
}

/// Facility layers for a venue word.
fn layers_for_venue(venue: &str) -> &'static [&'static str] {
    match venue {
        "pool" | "swim centre" | "lido" => &["pub_spfsp"],
        "pitch" | "playing field" | "soccer centre" | "stadium" | "arena" => &["pub_spfp"],
        "gym" | "fitness centre" | "health club" => &["pub_spffs"],
        "leisure centre" | "sports centre" => &["pub_spfsh", "pub_spfsp", "pub_spffs"],
        "sports hall" => &["pub_spfsh"],
        "golf course" | "driving range" => &["pub_spfgc"],
        "ice rink" => &["pub_spfir"],
        "track" => &["pub_spfat"],
        "bowling green" => &["pub_spfbg"],
        "tennis centre" | "court" => &["pub_spfotc", "pub_spfitc"],
        _ => &[],
    }
}

/// Facility layers for a brand (what the operator runs).
fn layers_for_brand(brand: &str) -> &'static [&'static str] {
    match brand {
        "powerleague" | "goals" => &["pub_spfp"],
        "david_lloyd" => &["pub_spffs", "pub_spfsp", "pub_spfitc"],
        "nuffield_health" | "bannatyne" | "virgin_active" => &["pub_spffs", "pub_spfsp"],
        "puregym" | "the_gym_group" | "jd_gyms" | "anytime_fitness" | "snap_fitness" => {
            &["pub_spffs"]
        }
        "edinburgh_leisure" => &["pub_spfsh", "pub_spfsp", "pub_spffs"],
        "game4padel" => &["pub_spfitc", "pub_spfotc"],
        _ => &[],
    }
}

/// The layers for a query, most specific first, at most `WFS_LAYERS_MAX`.
pub fn layers(terms: &SearchTerms) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let from_sports = terms.sports.iter().flat_map(|s| layers_for_sport(s).iter());
    let from_venues = terms
        .venue_words
        .iter()
        .flat_map(|v| layers_for_venue(v).iter());
    let from_brands = terms.brands.iter().flat_map(|b| layers_for_brand(b).iter());
    for layer in from_sports.chain(from_venues).chain(from_brands) {
        if !out.contains(layer) {
            out.push(layer);
        }
    }
    if out.is_empty() {
        // A named venue of unknown kind: the layers that hold most named sites.
        out.extend(["pub_spfsh", "pub_spfp", "pub_spfsp", "pub_spffs"]);
    }
    out.truncate(WFS_LAYERS_MAX);
    out
}

/// The CQL filter: any of the name words, within the City of Edinburgh when the query is
/// about Edinburgh.
pub fn cql_filter(terms: &SearchTerms, edinburgh: bool) -> String {
    let mut parts = Vec::new();
    if !terms.name_words.is_empty() {
        let ors: Vec<String> = terms
            .name_words
            .iter()
            .map(|w| format!("site_name ILIKE '%{}%'", sql_quote(w)))
            .collect();
        parts.push(format!("({})", ors.join(" OR ")));
    }
    if edinburgh {
        parts.push("la_name = 'City of Edinburgh'".to_string());
    }
    if parts.is_empty() {
        "INCLUDE".to_string()
    } else {
        parts.join(" AND ")
    }
}

impl Connector for SportScotland {
    fn id(&self) -> ConnectorId {
        ConnectorId::SportScotland
    }

    fn default_base_url(&self) -> &'static str {
        "https://geo.spatialhub.scot"
    }

    fn auth(&self) -> Auth {
        Auth::Query {
            env: "SPATIAL_HUB_AUTHKEY",
            name: "authkey",
        }
    }

    fn timeout_ms(&self) -> u64 {
        20_000
    }

    fn requests(&self, base: &str, query: &Query<'_>) -> Vec<ConnectorRequest> {
        let terms = SearchTerms::from_query(query);
        let edinburgh = query.features.edinburgh || !query.features.areas.is_empty();
        let cql = cql_filter(&terms, edinburgh);
        layers(&terms)
            .into_iter()
            .map(|layer| {
                let qs: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("service", "WFS")
                    .append_pair("version", "2.0.0")
                    .append_pair("request", "GetFeature")
                    .append_pair("typeNames", &format!("ext_spf:{layer}"))
                    .append_pair("outputFormat", "application/json")
                    .append_pair("count", &WFS_COUNT.to_string())
                    .append_pair("CQL_FILTER", &cql)
                    .finish();
                ConnectorRequest {
                    connector: ConnectorId::SportScotland,
                    method: Method::Get,
                    url: format!("{}/geoserver/ows?{qs}", base.trim_end_matches('/')),
                    headers: vec![("Accept".into(), "application/json".into())],
                    body: None,
                    page: 0,
                    cause: None,
                }
            })
            .collect()
    }

    fn inspect(
        &self,
        _: &ConnectorRequest,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Inspection, BodyError> {
        let doc = parse_json(content_type, body)?;
        match doc.get("features").and_then(|f| f.as_array()) {
            Some(features) => Ok(Inspection {
                records: features.len() as u64,
                next: None,
            }),
            None => Err(BodyError::Decode(
                "no \"features\" array in the WFS answer".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::{extract_features, Mode};

    fn terms(q: &str) -> SearchTerms {
        let f = extract_features(q);
        SearchTerms::from_query(&Query {
            text: q,
            features: &f,
            mode: Mode::DiscoverMany,
        })
    }

    #[test]
    fn powerleague_asks_the_pitches_layer_by_name_in_edinburgh() {
        let t = terms("powerleague portobello");
        assert_eq!(layers(&t), vec!["pub_spfp"]);
        assert_eq!(
            cql_filter(&t, true),
            "(site_name ILIKE '%powerleague%' OR site_name ILIKE '%portobello%') AND la_name = 'City of Edinburgh'"
        );
    }

    #[test]
    fn quotes_in_words_are_escaped() {
        let mut t = terms("x");
        t.name_words = vec!["o'neill".into()];
        assert!(cql_filter(&t, false).contains("'%o''neill%'"));
    }
}
