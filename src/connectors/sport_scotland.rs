//! sportscotland's facility register through the Spatial Hub WFS (GeoServer
//! `GetFeature`, GeoJSON). One request per facility layer relevant to the query. The
//! register's coordinates are British National Grid; extraction converts them to WGS84.

use super::{
    parse_json, sql_quote, Auth, BodyError, Connector, ConnectorRequest, Inspection, Method, Query,
    SearchTerms,
};
use crate::planner::QueryFeatures;
use crate::source::ConnectorId;

pub struct SportScotland;

/// Most layers asked for one query (one request each).
pub const WFS_LAYERS_MAX: usize = crate::planner::asks::REGISTER_LAYERS_MAX;
/// Features asked for per layer.
pub const WFS_COUNT: u32 = 200;

/// The layers for a query, most specific first (see [`crate::planner::asks::register_layers`]);
/// empty when the register holds nothing the query asks for.
pub fn layers(f: &QueryFeatures) -> Vec<&'static str> {
    crate::planner::asks::register_layers(f)
}

/// The CQL filter: any of the name words, within the area searched (its council area or
/// town, as the register names them). Never `INCLUDE`: a query the register cannot be
/// narrowed for is not asked (an area outside Scotland is skipped by the planner).
pub fn cql_filter(terms: &SearchTerms) -> String {
    let mut parts = Vec::new();
    if !terms.name_words.is_empty() {
        let ors: Vec<String> = terms
            .name_words
            .iter()
            .map(|w| format!("site_name ILIKE '%{}%'", sql_quote(w)))
            .collect();
        parts.push(format!("({})", ors.join(" OR ")));
    }
    match crate::planner::asks::register_area_filter(&terms.area) {
        Some((field, value)) => parts.push(format!("{field} = '{}'", sql_quote(&value))),
        None => parts.push("la_name IS NULL".to_string()),
    }
    parts.join(" AND ")
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
        let cql = cql_filter(&terms);
        layers(query.features)
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
        assert_eq!(
            layers(&extract_features("powerleague portobello")),
            vec!["pub_spfp"]
        );
        assert_eq!(
            cql_filter(&t),
            "(site_name ILIKE '%powerleague%' OR site_name ILIKE '%portobello%') AND la_name = 'City of Edinburgh'"
        );
    }

    #[test]
    fn the_register_is_filtered_by_the_town_or_council_area_named() {
        assert_eq!(
            cql_filter(&terms("tennis courts dundee")),
            "town = 'Dundee'"
        );
        assert_eq!(
            cql_filter(&terms("swimming pools in fife")),
            "la_name = 'Fife'"
        );
        assert_eq!(
            cql_filter(&terms("pitches")),
            "la_name = 'City of Edinburgh'",
            "no place named: the home area"
        );
    }

    #[test]
    fn quotes_in_words_are_escaped() {
        let mut t = terms("x");
        t.name_words = vec!["o'neill".into()];
        assert!(cql_filter(&t).contains("'%o''neill%'"));
    }
}
