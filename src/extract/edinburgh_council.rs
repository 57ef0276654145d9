//! City of Edinburgh Council open data from ArcGIS Online: a FeatureServer `query` with
//! `f=geojson&outSR=4326`, answering a GeoJSON `FeatureCollection` whose features carry
//! `id` (the OBJECTID), a Point `geometry` `[lon, lat]` and the layer's own `properties`:
//! `NAME`, `SITE_NAME`, `ADDRESS`, `POSTCODE`, `TYPE` or `PITCH_TYPE`, `MANAGED_BY`,
//! `PHONE`, `WEBSITE`. Errors come back as HTTP 200 with `{"error": {code, message}}`,
//! which is an [`ExtractError`].
//!
//! External ids: the payload does not name its service (layer), and an OBJECTID is unique
//! only within one service, so the extractor emits `objectid/<OBJECTID>` and the caller,
//! who knows the request URL, qualifies it with [`arcgis_external_id`]:
//! `arcgis_external_id("Sports_Facilities", "7")` → `Sports_Facilities/7`.
//!
//! A pitch record's `NAME` is `<site> - <pitch type>` ("ALLISON PARK - FOOTBALL
//! (7-A-SIDE)"); the place is the site, so `SITE_NAME` is the name when present. Names
//! are kept in the council's capitals: a display choice belongs to the projection.

use serde_json::Value;
use trustfold_events::CandidateFields;

use super::common::{
    at, categories_from, count, entity_class_for, member, number, parse_payload, phone, quote,
    text, Records,
};
use super::{ExtractError, Extraction, Extractor};
use trustfold_normalize::geo::bng_to_wgs84;
use trustfold_normalize::phone::Region;
use trustfold_normalize::{
    address::address_line,
    geo::coordinates,
    postcode::postcode,
    text::{display_name, free_text, required_name},
    web::website,
};

/// The prefix of the external ids this extractor emits, before the OBJECTID.
pub const OBJECTID_PREFIX: &str = "objectid/";

/// The external id of a feature of one ArcGIS service: `<service>/<objectid>`
/// (`Sports_Facilities/7`). The caller knows the service from the request URL; give it the
/// OBJECTID (an extracted id without its [`OBJECTID_PREFIX`]).
pub fn arcgis_external_id(service: &str, objectid: &str) -> String {
    format!("{service}/{objectid}")
}

/// The City of Edinburgh Council ArcGIS extractor.
pub struct ArcgisExtractor;

impl Extractor for ArcgisExtractor {
    fn source(&self) -> &'static str {
        "edinburgh_council"
    }

    fn version(&self) -> u32 {
        1
    }

    fn extract(&self, body: &[u8], region: Option<Region>) -> Result<Extraction, ExtractError> {
        let doc = parse_payload(body, self.source())?;
        if let Some(err) = member(&doc, "error") {
            let message = text(member(err, "message")).unwrap_or_else(|| err.to_string());
            return Err(ExtractError(format!(
                "edinburgh_council: ArcGIS answered an error: {}",
                quote(&message, 200)
            )));
        }
        let features = doc
            .get("features")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ExtractError(
                    "edinburgh_council: the payload has no `features` array (not an ArcGIS \
                     GeoJSON FeatureCollection)"
                        .to_string(),
                )
            })?;
        let mut out = Records::new();
        for (i, feature) in features.iter().enumerate() {
            let props = member(feature, "properties");
            let objectid = count(member(feature, "id"))
                .or_else(|| props.and_then(|p| count(member(p, "OBJECTID"))));
            let Some(objectid) = objectid else {
                out.skip(format!("{}: no OBJECTID", at("feature", i, None)));
                continue;
            };
            let id = format!("{OBJECTID_PREFIX}{objectid}");
            match feature_fields(feature, region) {
                Ok(fields) => out.push(id, fields),
                Err(why) => out.skip(format!("{}: {why}", at("feature", i, Some(&id)))),
            }
        }
        Ok(out.finish())
    }
}

/// A feature's WGS84 `(lat, lon)`. A Point in degrees is `[lon, lat]`; one in British
/// National Grid metres (a query without `outSR=4326`) is converted.
fn position(feature: &Value) -> Result<(f64, f64), String> {
    let geometry = member(feature, "geometry").ok_or("no geometry")?;
    if text(member(geometry, "type")).as_deref() != Some("Point") {
        return Err("geometry is not a Point".to_string());
    }
    let c = member(geometry, "coordinates");
    let (x, y) = match c.map(|c| (number(c.get(0)), number(c.get(1)))) {
        Some((Some(x), Some(y))) => (x, y),
        _ => return Err("no coordinates".to_string()),
    };
    if x.abs() <= 180.0 && y.abs() <= 90.0 {
        return coordinates(y, x);
    }
    if (0.0..=700_000.0).contains(&x) && (0.0..=1_300_000.0).contains(&y) {
        let (lat, lon) = bng_to_wgs84(x, y);
        return coordinates(lat, lon);
    }
    Err(format!(
        "coordinates ({x}, {y}) are neither degrees nor British National Grid"
    ))
}

/// One feature's canonical fields; `Err` is why it is skipped.
fn feature_fields(feature: &Value, region: Option<Region>) -> Result<CandidateFields, String> {
    let props = member(feature, "properties")
        .filter(|p| p.is_object())
        .ok_or("no properties")?;
    let prop = |k: &str| text(member(props, k));
    let name = ["SITE_NAME", "NAME"]
        .iter()
        .find_map(|k| prop(k).and_then(|n| display_name(&n)))
        .map_or_else(
            || {
                required_name(
                    ["SITE_NAME", "NAME"]
                        .iter()
                        .find_map(|k| prop(k))
                        .as_deref(),
                )
            },
            Ok,
        )?;
    let (lat, lon) = position(feature)?;
    let mut f = CandidateFields {
        name: Some(name),
        lat: Some(lat),
        lon: Some(lon),
        country: Some("GB".to_string()),
        ..CandidateFields::default()
    };
    f.address_lines = prop("ADDRESS")
        .and_then(|a| address_line(&a))
        .into_iter()
        .collect();
    f.postcode = prop("POSTCODE").and_then(|p| postcode(&p));
    f.phone = prop("PHONE").and_then(|p| phone(&p, region));
    f.website = prop("WEBSITE").and_then(|w| website(&w));

    // Pitch layers name the pitch type only; being in one makes the place a pitch.
    let mut labels: Vec<String> = ["TYPE", "PITCH_TYPE"]
        .iter()
        .filter_map(|k| prop(k))
        .collect();
    if member(props, "PITCH_TYPE").is_some() {
        labels.push("pitch".to_string());
    }
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let (categories, sports) = categories_from(&label_refs);
    f.categories = categories;
    f.sports = sports;
    f.entity_class = Some(entity_class_for(&f.categories).to_string());

    // The record's own name (a pitch's "<site> - <type>") and its manager, for people.
    let mut notes: Vec<String> = Vec::new();
    if let (Some(site), Some(own)) = (prop("SITE_NAME"), prop("NAME")) {
        if site.trim() != own.trim() {
            notes.extend(display_name(&own));
        }
    }
    if let Some(manager) = prop("MANAGED_BY").and_then(|m| display_name(&m)) {
        notes.push(format!("managed by {manager}"));
    }
    f.description = free_text(&notes.join("; "), 300);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::common::test_support::{arbitrary_json, assert_never_panics};
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::OnceLock;

    const SPORTS_FACILITIES: &[u8] =
        include_bytes!("../../fixtures/world/edinburgh_council/Sports_Facilities.json");
    const PARKS_PITCHES: &[u8] =
        include_bytes!("../../fixtures/world/edinburgh_council/Parks_Pitches.json");
    const COMMUNITY_CENTRES: &[u8] =
        include_bytes!("../../fixtures/world/edinburgh_council/Community_Centres.json");

    #[test]
    fn world_fixtures() {
        for (bytes, n) in [
            (SPORTS_FACILITIES, 60),
            (PARKS_PITCHES, 66),
            (COMMUNITY_CENTRES, 13),
        ] {
            let e = ArcgisExtractor.extract(bytes, Some(Region::GB)).unwrap();
            assert_eq!(e.records.len(), n);
            assert!(e.skipped.is_empty(), "{:?}", e.skipped);
            assert!(e
                .records
                .iter()
                .all(|r| r.external_id.starts_with(OBJECTID_PREFIX)));
        }
        let e = ArcgisExtractor
            .extract(SPORTS_FACILITIES, Some(Region::GB))
            .unwrap();
        let ainslie = &e.records[0];
        assert_eq!(ainslie.external_id, "objectid/1");
        let f = &ainslie.fields;
        assert_eq!(f.name.as_deref(), Some("Ainslie Park Leisure Centre"));
        assert_eq!(f.address_lines, vec!["92 Pilton Drive"]);
        assert_eq!((f.lat, f.lon), (Some(55.9725222), Some(-3.2304302)));
        assert_eq!(f.phone.as_deref(), Some("+441314960000"));
        assert_eq!(
            f.website.as_deref(),
            Some("https://www.edinburghleisure.co.uk/venues/ainslie-park-leisure-centre")
        );
        assert_eq!(f.categories, vec!["leisure_centre"]);
        assert_eq!(
            f.description.as_deref(),
            Some("managed by Edinburgh Leisure")
        );

        let pitches = ArcgisExtractor
            .extract(PARKS_PITCHES, Some(Region::GB))
            .unwrap();
        let allison = &pitches.records[0].fields;
        assert_eq!(allison.name.as_deref(), Some("ALLISON PARK"));
        assert_eq!(allison.categories, vec!["pitch"]);
        assert_eq!(allison.sports, vec!["football"]);
        assert_eq!(
            allison.description.as_deref(),
            Some("ALLISON PARK - FOOTBALL (7-A-SIDE); managed by City of Edinburgh Council")
        );
        let centres = ArcgisExtractor
            .extract(COMMUNITY_CENTRES, Some(Region::GB))
            .unwrap();
        assert!(centres
            .records
            .iter()
            .all(|r| r.fields.categories == vec!["community_centre"]));
    }

    #[test]
    fn ids_are_qualified_by_the_caller() {
        assert_eq!(
            arcgis_external_id("Sports_Facilities", "7"),
            "Sports_Facilities/7"
        );
        let e = ArcgisExtractor
            .extract(SPORTS_FACILITIES, Some(Region::GB))
            .unwrap();
        let objectid = e.records[0]
            .external_id
            .strip_prefix(OBJECTID_PREFIX)
            .unwrap();
        assert_eq!(
            arcgis_external_id("Sports_Facilities", objectid),
            "Sports_Facilities/1"
        );
    }

    #[test]
    fn errors_and_broken_features() {
        let x = |s: &str| ArcgisExtractor.extract(s.as_bytes(), Some(Region::GB));
        let err =
            x(r#"{"error": {"code": 400, "message": "Invalid query parameters"}}"#).unwrap_err();
        assert!(err.0.contains("Invalid query parameters"), "{err}");
        assert!(x("{}").is_err());
        assert!(x("[1]").is_err());
        let doc = json!({"type": "FeatureCollection", "exceededTransferLimit": true, "features": [
            {"id": 1, "geometry": {"type": "Point", "coordinates": [330210, 674292]},
             "properties": {"NAME": "Grid Point", "POSTCODE": "eh151dr", "PHONE": "n/a"}},
            {"geometry": {"type": "Point", "coordinates": [-3.1, 55.9]},
             "properties": {"OBJECTID": "2", "NAME": "Id From Properties"}},
            {"id": 3, "geometry": {"type": "Polygon", "coordinates": []}, "properties": {"NAME": "Area"}},
            {"id": 4, "geometry": null, "properties": {"NAME": "Nowhere"}},
            {"id": 5, "geometry": {"type": "Point", "coordinates": [-3.1, 55.9]}, "properties": {"NAME": "-"}},
            {"id": -6, "properties": {}},
            {"id": 7, "geometry": {"type": "Point", "coordinates": ["x", 55.9]}, "properties": {"NAME": "Bad X"}}
        ]});
        let e = x(&doc.to_string()).unwrap();
        let ids: Vec<&str> = e.records.iter().map(|r| r.external_id.as_str()).collect();
        assert_eq!(ids, vec!["objectid/1", "objectid/2"]);
        let grid = &e.records[0].fields;
        assert_eq!(grid.postcode.as_deref(), Some("EH15 1DR"));
        assert_eq!(grid.phone, None);
        assert!((grid.lat.unwrap() - 55.95656).abs() < 1e-4);
        assert_eq!(
            e.skipped,
            vec![
                "feature 2 (objectid/3): geometry is not a Point",
                "feature 3 (objectid/4): no geometry",
                "feature 4 (objectid/5): no name",
                "feature 5: no OBJECTID",
                "feature 6 (objectid/7): no coordinates",
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_payloads_never_panic(v in arbitrary_json(), bytes in any::<Vec<u8>>()) {
            static FEATURE: OnceLock<Value> = OnceLock::new();
            let feature = FEATURE.get_or_init(|| {
                serde_json::from_slice::<Value>(PARKS_PITCHES).unwrap()["features"][0].clone()
            });
            assert_never_panics(&ArcgisExtractor, &v, &bytes,
                &|f| json!({"type": "FeatureCollection", "features": [f]}), feature);
        }
    }
}
