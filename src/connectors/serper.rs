//! Serper (Google search results as JSON): `/places` for venue queries, `/search` (web
//! results) for general ones. One call per query: the planner budgets one.

use serde_json::json;

use super::{parse_json, Auth, BodyError, Connector, ConnectorRequest, Inspection, Method, Query};
use crate::planner::QueryIntent;
use crate::source::ConnectorId;

pub struct Serper;

/// Results asked for per call (Serper bills per call, up to 10 results).
pub const SERPER_RESULTS: u32 = 10;

/// Serper's `location` for an area ("Glasgow, Scotland, United Kingdom"), so web search
/// answers for the area searched rather than for wherever the caller is.
pub fn location(area: &crate::planner::Area) -> String {
    format!(
        "{}, {}, United Kingdom",
        area.display_title(),
        area.nation.as_str()
    )
}

impl Connector for Serper {
    fn id(&self) -> ConnectorId {
        ConnectorId::Serper
    }

    fn default_base_url(&self) -> &'static str {
        "https://google.serper.dev"
    }

    fn auth(&self) -> Auth {
        Auth::Header {
            env: "SERPER_API_KEY",
            name: "X-API-KEY",
        }
    }

    fn timeout_ms(&self) -> u64 {
        10_000
    }

    fn requests(&self, base: &str, query: &Query<'_>) -> Vec<ConnectorRequest> {
        let endpoint = if query.features.intent == QueryIntent::General {
            "search"
        } else {
            "places"
        };
        let body = json!({
            "q": query.text,
            "gl": "gb",
            "hl": "en",
            "num": SERPER_RESULTS,
            "location": location(&query.features.area_or_home()),
        });
        vec![ConnectorRequest {
            connector: ConnectorId::Serper,
            method: Method::Post,
            url: format!("{}/{endpoint}", base.trim_end_matches('/')),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(body.to_string()),
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
        if let (Some(msg), Some(code)) = (doc.get("message"), doc.get("statusCode")) {
            return Err(BodyError::Api {
                status: code.as_u64().unwrap_or(400) as u16,
                message: msg.as_str().unwrap_or("").to_string(),
            });
        }
        let list = doc
            .get("places")
            .or_else(|| doc.get("organic"))
            .and_then(|v| v.as_array());
        match list {
            Some(items) => Ok(Inspection {
                records: items.len() as u64,
                next: None,
            }),
            None => Err(BodyError::Decode(
                "no \"places\" or \"organic\" array in the Serper answer".into(),
            )),
        }
    }
}
