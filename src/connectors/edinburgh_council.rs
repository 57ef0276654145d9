//! City of Edinburgh Council open data on ArcGIS Online (FeatureServer `query`,
//! `f=geojson`, WGS84). Pages through `exceededTransferLimit`; reports the HTTP-200 error
//! bodies ArcGIS sends as API errors.

use super::{
    parse_json, sql_quote, Auth, BodyError, Connector, ConnectorRequest, Inspection, Method, Query,
    SearchTerms,
};
use crate::planner::ConnectorId;

pub struct EdinburghCouncil;

/// The council's ArcGIS Online organisation.
pub const ORG_ID: &str = "FgpikkYuSUOuITxp";
/// Features per page.
pub const PAGE_RECORDS: u32 = 50;

/// The services (layers) relevant to a query.
pub fn services(terms: &SearchTerms, query_tokens: &[String]) -> Vec<&'static str> {
    let mut out = vec!["Sports_Facilities"];
    let pitchy = terms
        .sports
        .iter()
        .any(|s| matches!(s.as_str(), "football" | "rugby" | "hockey" | "cricket"))
        || terms
            .venue_words
            .iter()
            .any(|v| matches!(v.as_str(), "pitch" | "playing field"))
        || query_tokens.iter().any(|t| t == "park" || t == "parks");
    if pitchy {
        out.push("Parks_Pitches");
    }
    if query_tokens.iter().any(|t| t == "community") {
        out.push("Community_Centres");
    }
    out
}

/// The field that holds a feature's kind in each service (the layers differ).
fn type_field(service: &str) -> &'static str {
    match service {
        "Parks_Pitches" => "PITCH_TYPE",
        _ => "TYPE",
    }
}

/// The `where` clause: the name words, else the sports as facility types, else everything.
pub fn where_clause(terms: &SearchTerms, service: &str) -> String {
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
    } else if !terms.sports.is_empty() {
        likes(type_field(service), &terms.sports)
    } else {
        "1=1".to_string()
    }
}

fn query_url(base: &str, service: &str, where_: &str, offset: u32) -> String {
    let qs: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("where", where_)
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
        services(&terms, &query.features.tokens)
            .into_iter()
            .map(|service| ConnectorRequest {
                connector: ConnectorId::EdinburghCouncil,
                method: Method::Get,
                url: query_url(base, service, &where_clause(&terms, service), 0),
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

    #[test]
    fn paging_moves_the_offset_and_keeps_the_rest() {
        let req = ConnectorRequest {
            connector: ConnectorId::EdinburghCouncil,
            method: Method::Get,
            url: query_url("http://127.0.0.1:1", "Sports_Facilities", "1=1", 0),
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
