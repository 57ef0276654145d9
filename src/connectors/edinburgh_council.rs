//! City of Edinburgh Council open data on ArcGIS Online (FeatureServer `query`,
//! `f=geojson`, WGS84). Pages through `exceededTransferLimit`; reports the HTTP-200 error
//! bodies ArcGIS sends as API errors.

use super::{
    parse_json, sql_quote, Auth, BodyError, Connector, ConnectorRequest, Inspection, Method, Query,
    SearchTerms,
};
use crate::planner::asks::CouncilAsk;
use crate::planner::QueryFeatures;
use crate::source::ConnectorId;
use trustfold_normalize::geo::bbox_around;

pub struct EdinburghCouncil;

/// The council's ArcGIS Online organisation.
pub const ORG_ID: &str = "FgpikkYuSUOuITxp";
/// Features per page.
pub const PAGE_RECORDS: u32 = 50;

/// The services asked for a query and their filters
/// ([`crate::planner::asks::council`]); empty when the council's data holds nothing asked.
pub fn services(f: &QueryFeatures) -> Vec<CouncilAsk> {
    crate::planner::asks::council(f)
}

/// The `where` clause of one service: the name words when the query names a venue, else
/// the facility types asked (`UPPER(TYPE) LIKE '%SWIMMING POOL%' OR ...`), else the whole
/// layer (`1=1`), which [`crate::planner::asks::council`] asks only when the layer holds
/// exactly what the query is about.
pub fn where_clause(terms: &SearchTerms, ask: &CouncilAsk) -> String {
    let likes = |field: &str, words: &[String]| -> String {
        words
            .iter()
            .map(|w| {
                format!(
                    "UPPER({field}) LIKE '%{}%'",
                    sql_quote(&w.to_uppercase().replace('_', " "))
                )
            })
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    if !terms.name_words.is_empty() {
        likes("NAME", &terms.name_words)
    } else if !ask.types.is_empty() {
        let types: Vec<String> = ask.types.iter().map(|t| t.to_string()).collect();
        likes(ask.type_field, &types)
    } else {
        "1=1".to_string()
    }
}

/// The envelope `xmin,ymin,xmax,ymax` (WGS84) of a district searched, or `None` for the
/// whole city.
pub fn envelope(terms: &SearchTerms) -> Option<String> {
    if terms.area.kind != crate::planner::AreaKind::District {
        return None;
    }
    let (s, w, n, e) = bbox_around(terms.centre.0, terms.centre.1, terms.radius_km);
    Some(format!("{w:.5},{s:.5},{e:.5},{n:.5}"))
}

fn query_url(
    base: &str,
    service: &str,
    where_: &str,
    envelope: Option<&str>,
    offset: u32,
) -> String {
    let mut qs = form_urlencoded::Serializer::new(String::new());
    qs.append_pair("where", where_);
    if let Some(env) = envelope {
        qs.append_pair("geometry", env)
            .append_pair("geometryType", "esriGeometryEnvelope")
            .append_pair("inSR", "4326")
            .append_pair("spatialRel", "esriSpatialRelIntersects");
    }
    let qs = qs
        .append_pair("outFields", "*")
        .append_pair("outSR", "4326")
        .append_pair("f", "geojson")
        .append_pair("resultOffset", &offset.to_string())
        .append_pair("resultRecordCount", &PAGE_RECORDS.to_string())
        .finish();
    format!(
        "{}/{ORG_ID}/arcgis/rest/services/{service}/FeatureServer/0/query?{qs}",
        base.trim_end_matches('/')
    )
}

impl Connector for EdinburghCouncil {
    fn id(&self) -> ConnectorId {
        ConnectorId::EdinburghCouncil
    }

    fn default_base_url(&self) -> &'static str {
        "https://services-eu1.arcgis.com"
    }

    fn auth(&self) -> Auth {
        Auth::None
    }

    fn timeout_ms(&self) -> u64 {
        20_000
    }

    fn requests(&self, base: &str, query: &Query<'_>) -> Vec<ConnectorRequest> {
        let terms = SearchTerms::from_query(query);
        let envelope = envelope(&terms);
        services(query.features)
            .into_iter()
            .map(|ask| ConnectorRequest {
                connector: ConnectorId::EdinburghCouncil,
                method: Method::Get,
                url: query_url(
                    base,
                    ask.service,
                    &where_clause(&terms, &ask),
                    envelope.as_deref(),
                    0,
                ),
                headers: vec![],
                body: None,
                page: 0,
                cause: None,
            })
            .collect()
    }

    fn inspect(
        &self,
        request: &ConnectorRequest,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Inspection, BodyError> {
        let doc = parse_json(content_type, body)?;
        if let Some(err) = doc.get("error") {
            return Err(BodyError::Api {
                status: err.get("code").and_then(|c| c.as_u64()).unwrap_or(400) as u16,
                message: format!(
                    "{} {}",
                    err.get("message").and_then(|m| m.as_str()).unwrap_or(""),
                    err.get("details")
                        .map(|d| d.to_string())
                        .unwrap_or_default()
                )
                .trim()
                .to_string(),
            });
        }
        let Some(features) = doc.get("features").and_then(|f| f.as_array()) else {
            return Err(BodyError::Decode(
                "no \"features\" array in the ArcGIS answer".into(),
            ));
        };
        // The flag sits at the top level, or under `properties` in some layer versions.
        let more = doc
            .get("exceededTransferLimit")
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
            || doc
                .get("properties")
                .and_then(|p| p.get("exceededTransferLimit"))
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
        let next = if more && !features.is_empty() {
            next_page(request, features.len() as u32)
        } else {
            None
        };
        Ok(Inspection {
            records: features.len() as u64,
            next,
        })
    }
}

/// The same query with `resultOffset` moved past the features just received.
fn next_page(request: &ConnectorRequest, received: u32) -> Option<ConnectorRequest> {
    let mut url = url::Url::parse(&request.url).ok()?;
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let offset: u32 = pairs
        .iter()
        .find(|(k, _)| k == "resultOffset")?
        .1
        .parse()
        .ok()?;
    url.query_pairs_mut().clear();
    for (k, v) in &pairs {
        let v = if k == "resultOffset" {
            (offset + received).to_string()
        } else {
            v.clone()
        };
        url.query_pairs_mut().append_pair(k, &v);
    }
    Some(ConnectorRequest {
        url: url.to_string(),
        page: request.page + 1,
        ..request.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(q: &str) -> Vec<String> {
        let f = crate::planner::extract_features(q);
        let query = Query {
            text: q,
            features: &f,
            mode: crate::planner::Mode::DiscoverMany,
        };
        EdinburghCouncil
            .requests("http://x", &query)
            .into_iter()
            .map(|r| r.url)
            .collect()
    }

    #[test]
    fn a_district_is_asked_inside_its_envelope_by_facility_type() {
        let u = urls("swimming pools portobello");
        assert_eq!(u.len(), 1, "{u:?}");
        assert!(u[0].contains("Sports_Facilities"), "{}", u[0]);
        assert!(u[0].contains("SWIMMING+POOL"), "{}", u[0]);
        assert!(
            u[0].contains("geometryType=esriGeometryEnvelope"),
            "{}",
            u[0]
        );
        // The whole city: no envelope.
        assert!(!urls("swimming pools edinburgh")[0].contains("geometry="));
        // Nothing the council holds: nothing asked.
        assert!(urls("pizza restaurant leith").is_empty());
    }

    #[test]
    fn paging_moves_the_offset_and_keeps_the_rest() {
        let req = ConnectorRequest {
            connector: ConnectorId::EdinburghCouncil,
            method: Method::Get,
            url: query_url("http://127.0.0.1:1", "Sports_Facilities", "1=1", None, 0),
            headers: vec![],
            body: None,
            page: 0,
            cause: None,
        };
        let body =
            br#"{"type":"FeatureCollection","features":[{},{}],"exceededTransferLimit":true}"#;
        let ins = EdinburghCouncil
            .inspect(&req, Some("application/geo+json"), body)
            .unwrap();
        let next = ins.next.unwrap();
        assert!(next.url.contains("resultOffset=2"), "{}", next.url);
        assert!(next.url.contains("where=1%3D1"), "{}", next.url);
        assert_eq!(next.page, 1);
        let err = EdinburghCouncil
            .inspect(
                &req,
                Some("application/json"),
                br#"{"error":{"code":400,"message":"Invalid URL"}}"#,
            )
            .unwrap_err();
        assert!(matches!(err, BodyError::Api { status: 400, .. }));
    }
}
