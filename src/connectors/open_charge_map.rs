//! Open Charge Map (`/v3/poi`, verbose): charge points around the query's area.

use super::{
    parse_json, Auth, BodyError, Connector, ConnectorRequest, Inspection, Method, Query,
    SearchTerms,
};
use crate::source::ConnectorId;

pub struct OpenChargeMap;

/// POIs asked for per call.
pub const MAX_RESULTS: u32 = 50;

impl Connector for OpenChargeMap {
    fn id(&self) -> ConnectorId {
        ConnectorId::OpenChargeMap
    }

    fn default_base_url(&self) -> &'static str {
        "https://api.openchargemap.io"
    }

    fn auth(&self) -> Auth {
        Auth::Header {
            env: "OCM_API_KEY",
            name: "X-API-Key",
        }
    }

    fn timeout_ms(&self) -> u64 {
        10_000
    }

    fn requests(&self, base: &str, query: &Query<'_>) -> Vec<ConnectorRequest> {
        let terms = SearchTerms::from_query(query);
        let qs: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("output", "json")
            .append_pair("verbose", "true")
            .append_pair("compact", "false")
            .append_pair("countrycode", "GB")
            .append_pair("latitude", &format!("{:.5}", terms.centre.0))
            .append_pair("longitude", &format!("{:.5}", terms.centre.1))
            .append_pair("distance", &format!("{}", terms.radius_km))
            .append_pair("distanceunit", "km")
            .append_pair("maxresults", &MAX_RESULTS.to_string())
            .finish();
        vec![ConnectorRequest {
            connector: ConnectorId::OpenChargeMap,
            method: Method::Get,
            url: format!("{}/v3/poi?{qs}", base.trim_end_matches('/')),
            headers: vec![("Accept".into(), "application/json".into())],
            body: None,
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
        match parse_json(content_type, body)? {
            serde_json::Value::Array(pois) => Ok(Inspection {
                records: pois.len() as u64,
                next: None,
            }),
            other => Err(BodyError::Api {
                status: 400,
                message: other.to_string().chars().take(200).collect(),
            }),
        }
    }
}
