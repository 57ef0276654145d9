//! Google Places API (New): `places:searchText` with a field mask, biased to the area.

use serde_json::json;

use super::{
    parse_json, Auth, BodyError, Connector, ConnectorRequest, Inspection, Method, Query,
    SearchTerms,
};
use crate::source::ConnectorId;

pub struct GooglePlaces;

/// The fields asked for. Google bills by the most expensive field in the mask, and the
/// mask is mandatory: no mask is an HTTP 400.
pub const FIELD_MASK: &str =
    "places.id,places.displayName,places.formattedAddress,places.location,\
places.types,places.nationalPhoneNumber,places.internationalPhoneNumber,places.websiteUri,\
places.rating,places.userRatingCount,places.googleMapsUri,places.businessStatus,\
places.regularOpeningHours";

/// Results per call (the API allows up to 20).
pub const PAGE_SIZE: u32 = 10;

/// The API's largest location-bias radius.
const BIAS_RADIUS_M_MAX: f64 = 50_000.0;

impl Connector for GooglePlaces {
    fn id(&self) -> ConnectorId {
        ConnectorId::GooglePlaces
    }

    fn default_base_url(&self) -> &'static str {
        "https://places.googleapis.com"
    }

    fn auth(&self) -> Auth {
        Auth::Header {
            env: "GOOGLE_PLACES_API_KEY",
            name: "X-Goog-Api-Key",
        }
    }

    fn timeout_ms(&self) -> u64 {
        8_000
    }

    fn requests(&self, base: &str, query: &Query<'_>) -> Vec<ConnectorRequest> {
        let terms = SearchTerms::from_query(query);
        let body = json!({
            "textQuery": query.text,
            "pageSize": PAGE_SIZE,
            "regionCode": "GB",
            "languageCode": "en",
            "locationBias": {"circle": {
                "center": {"latitude": terms.centre.0, "longitude": terms.centre.1},
                "radius": (terms.radius_km * 1000.0 * 2.0).min(BIAS_RADIUS_M_MAX),
            }},
        });
        vec![ConnectorRequest {
            connector: ConnectorId::GooglePlaces,
            method: Method::Post,
            url: format!("{}/v1/places:searchText", base.trim_end_matches('/')),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Goog-FieldMask".into(), FIELD_MASK.into()),
            ],
            body: Some(body.to_string()),
            page: 0,
            cause: None,
        }]
    }

    fn inspect(
        &self,
        req: &ConnectorRequest,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Inspection, BodyError> {
        let doc = parse_json(content_type, body)?;
        let Some(obj) = doc.as_object() else {
            return Err(BodyError::Decode(
                "the Places answer is not a JSON object".into(),
            ));
        };
        if let Some(err) = obj.get("error") {
            return Err(BodyError::Api {
                status: err.get("code").and_then(|c| c.as_u64()).unwrap_or(500) as u16,
                message: err
                    .get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("")
                    .to_string(),
            });
        }
        // No match is `{}`, not an empty list.
        // More results: the same search with the answer's page token (each page is a
        // billed call, so the run's budget is checked again before it is sent).
        let next = obj
            .get("nextPageToken")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .and_then(|token| {
                let mut body: serde_json::Value =
                    serde_json::from_str(req.body.as_deref()?).ok()?;
                body.as_object_mut()?
                    .insert("pageToken".into(), json!(token));
                Some(ConnectorRequest {
                    body: Some(body.to_string()),
                    page: req.page + 1,
                    ..req.clone()
                })
            });
        match obj.get("places") {
            None => Ok(Inspection { records: 0, next }),
            Some(serde_json::Value::Array(p)) => Ok(Inspection {
                records: p.len() as u64,
                next,
            }),
            Some(_) => Err(BodyError::Decode("\"places\" is not an array".into())),
        }
    }
}
