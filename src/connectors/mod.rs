//! The six connectors, and the only code in trustfold that speaks HTTP.
//!
//! A connector turns a query into the real requests of its API ([`Connector::requests`])
//! and judges a response body ([`Connector::inspect`]): is it what the API sends on
//! success, how many records it holds, and which page comes next. It never sends
//! anything itself: a [`transport::Transport`] does — over HTTP (reqwest) when there is a
//! key or a base URL override, or against the recorded fixture world otherwise — so the
//! same request code runs live, offline and against the local fault-injecting test server.
//!
//! Requests are built without secrets. The HTTP transport adds the API key (header or
//! query parameter, per [`Auth`]) at send time, so what is recorded in the log is exactly
//! what was sent, minus the key.

pub mod edinburgh_council;
pub mod fetch;
pub mod fixture;
pub mod google_places;
pub mod open_charge_map;
pub mod openstreetmap;
pub mod secrets;
pub mod serper;
pub mod sport_scotland;
pub mod transport;

use serde::{Deserialize, Serialize};
use trustfold_events::RedactedRequest;

use crate::planner::{Mode, QueryFeatures};
use crate::source::ConnectorId;

/// HTTP method of a connector request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One request a connector wants sent. Carries no secret.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectorRequest {
    pub connector: ConnectorId,
    pub method: Method,
    /// Full URL including the query string.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// 0 for the first page; paging connectors count up.
    pub page: u32,
    /// The event this request answers, e.g. the dead letter a replay retries.
    pub cause: Option<uuid::Uuid>,
}

impl ConnectorRequest {
    /// The form recorded in events. Requests carry no secrets, so this is a copy; the
    /// secrets scrubber runs over it anyway as a second line of defence.
    pub fn redacted(&self, secrets: &secrets::Secrets) -> RedactedRequest {
        RedactedRequest {
            method: self.method.as_str().to_string(),
            url: secrets.scrub(&self.url),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), secrets.scrub(v)))
                .collect(),
            body: self.body.as_ref().map(|b| secrets.scrub(b)),
        }
    }

    /// Rebuilds a request from its recorded form (for `dlq replay`).
    pub fn from_recorded(connector: ConnectorId, r: &RedactedRequest) -> Option<Self> {
        let method = match r.method.as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            _ => return None,
        };
        Some(ConnectorRequest {
            connector,
            method,
            url: r.url.clone(),
            headers: r.headers.clone(),
            body: r.body.clone(),
            page: 0,
            cause: None,
        })
    }

    /// The path and query of the URL (what the fixture world is routed by).
    pub fn path_and_query(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(u) => match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_string(),
            },
            Err(_) => self.url.clone(),
        }
    }
}

/// Where a connector's API key goes, and which environment variable holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    None,
    Header {
        env: &'static str,
        name: &'static str,
    },
    Query {
        env: &'static str,
        name: &'static str,
    },
}

impl Auth {
    pub fn env_var(self) -> Option<&'static str> {
        match self {
            Auth::None => None,
            Auth::Header { env, .. } | Auth::Query { env, .. } => Some(env),
        }
    }
}

/// What a connector needs to know about the question.
#[derive(Clone, Debug)]
pub struct Query<'a> {
    pub text: &'a str,
    pub features: &'a QueryFeatures,
    pub mode: Mode,
}

/// Why a response body is not a success, as the connector reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum BodyError {
    /// Not the format the API sends (bad JSON, HTML, truncated...).
    Decode(String),
    /// The API answered with an error document (e.g. ArcGIS's HTTP-200 errors).
    Api { status: u16, message: String },
}

/// A connector's reading of a successful body.
#[derive(Clone, Debug, PartialEq)]
pub struct Inspection {
    /// Records (places, elements, features, POIs) in the body.
    pub records: u64,
    /// The next page to fetch, for paging APIs.
    pub next: Option<ConnectorRequest>,
}

/// One data source.
pub trait Connector: Send + Sync {
    fn id(&self) -> ConnectorId;
    /// The real service's base URL.
    fn default_base_url(&self) -> &'static str;
    fn auth(&self) -> Auth;
    /// Per-request timeout.
    fn timeout_ms(&self) -> u64;
    /// The requests for the first page(s) of this query, against `base`.
    fn requests(&self, base: &str, query: &Query<'_>) -> Vec<ConnectorRequest>;
    /// Judges a 2xx body: success (records, next page) or an error the API reports in-band.
    fn inspect(
        &self,
        request: &ConnectorRequest,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Inspection, BodyError>;
}

/// The connector implementation for an id.
pub fn connector(id: ConnectorId) -> &'static dyn Connector {
    match id {
        ConnectorId::Serper => &serper::Serper,
        ConnectorId::GooglePlaces => &google_places::GooglePlaces,
        ConnectorId::OpenStreetMap => &openstreetmap::OpenStreetMap,
        ConnectorId::SportScotland => &sport_scotland::SportScotland,
        ConnectorId::EdinburghCouncil => &edinburgh_council::EdinburghCouncil,
        ConnectorId::OpenChargeMap => &open_charge_map::OpenChargeMap,
    }
}

/// The search terms the connectors derive from a query's features.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchTerms {
    /// Words a venue's name may contain (brand, named venue, unknown words, and districts
    /// beside them), lowercase; see [`crate::planner::asks::name_words`].
    pub name_words: Vec<String>,
    /// Canonical sports of the query (planner vocabulary: "football", "tennis", ...).
    pub sports: Vec<String>,
    /// Places to do sport ("leisure centre", "pool", ...).
    pub venue_words: Vec<String>,
    /// Brand keys ("powerleague", ...).
    pub brands: Vec<String>,
    /// The area searched: the place the query names, or the home area.
    pub area: crate::planner::Area,
    /// Where to look: the area's centre.
    pub centre: (f64, f64),
    /// How far around `centre` to look, in km.
    pub radius_km: f64,
    pub ev: bool,
}

/// Longest name word list sent to any API (keeps requests small and bounded).
pub const NAME_WORDS_MAX: usize = crate::planner::asks::NAME_WORDS_MAX;

impl SearchTerms {
    pub fn from_query(query: &Query<'_>) -> SearchTerms {
        let f = query.features;
        let area = f.area_or_home();
        SearchTerms {
            name_words: crate::planner::asks::name_words(f),
            sports: f.sports.clone(),
            venue_words: f.venue_words.clone(),
            brands: f.brands.clone(),
            centre: area.centre(),
            radius_km: area.radius_km,
            area,
            ev: f.ev,
        }
    }
}

/// Parses a body as JSON, or says why not (content type first: an HTML error page with
/// status 200 is a decode failure, not data).
pub fn parse_json(content_type: Option<&str>, body: &[u8]) -> Result<serde_json::Value, BodyError> {
    if let Some(ct) = content_type {
        let ct = ct.to_ascii_lowercase();
        if !ct.contains("json") {
            let snippet: String = String::from_utf8_lossy(&body[..body.len().min(80)])
                .chars()
                .collect();
            return Err(BodyError::Decode(format!(
                "expected JSON, got content type {ct:?} (body starts {snippet:?})"
            )));
        }
    }
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_eof() {
            "truncated JSON"
        } else {
            "malformed JSON"
        };
        BodyError::Decode(format!("{what}: {e}"))
    })
}

/// Escapes a word for a single-quoted SQL/CQL string literal.
pub fn sql_quote(word: &str) -> String {
    word.replace('\'', "''")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::extract_features;

    fn terms(q: &str) -> SearchTerms {
        let f = extract_features(q);
        SearchTerms::from_query(&Query {
            text: q,
            features: &f,
            mode: Mode::DiscoverMany,
        })
    }

    #[test]
    fn name_words_keep_brand_and_area_and_drop_generic_and_category_words() {
        let t = terms("powerleague portobello");
        assert_eq!(t.name_words, vec!["powerleague", "portobello"]);
        assert!(t.radius_km < 5.0, "an area narrows the search");
        let t = terms("tennis courts edinburgh");
        assert!(t.name_words.is_empty(), "{:?}", t.name_words);
        assert_eq!(t.sports, vec!["tennis"]);
        assert_eq!(t.centre, crate::planner::areas::EDINBURGH_CENTRE);
        let t = terms("tennis courts glasgow");
        assert_eq!(t.area.name, "glasgow");
        assert!(
            trustfold_normalize::geo::haversine_km(
                t.centre,
                crate::planner::areas::EDINBURGH_CENTRE
            ) > 60.0
        );
    }

    #[test]
    fn html_with_status_200_is_a_decode_error() {
        let err = parse_json(Some("text/html; charset=utf-8"), b"<html>oops</html>").unwrap_err();
        assert!(matches!(err, BodyError::Decode(m) if m.contains("text/html")));
        let err = parse_json(Some("application/json"), b"{\"places\": [").unwrap_err();
        assert!(matches!(err, BodyError::Decode(m) if m.contains("truncated")));
    }
}
