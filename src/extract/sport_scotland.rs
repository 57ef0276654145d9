//! The sportscotland facility register through the Spatial Hub GeoServer WFS
//! (`GetFeature`, `outputFormat=application/json`): a GeoJSON `FeatureCollection` whose
//! features are `{id: "<layer>.<n>", geometry: Point, properties: {site_name, address,
//! postcode, town, facility_sub_type | fac_sub_type, eastings_x/northing_y | x/y, fid, ...}}`.
//!
//! The register is one row per facility, so a site appears once per pitch, court or pool;
//! deduplicating the source against itself is the matcher's job, not extraction's.
//!
//! Coordinates are British National Grid (EPSG:27700) metres, converted to WGS84 with
//! `bng_to_wgs84`. A geometry that already looks like degrees (|x| ≤ 180 and |y| ≤ 90) is
//! read as lon/lat, so a request made with `srsName=EPSG:4326` reads the same. Without a
//! geometry the `eastings_x`/`northing_y` (or `x`/`y`) properties are used.
//!
//! What a facility is comes from its layer, named by the id's prefix (`pub_spfp.1029` is
//! in `pub_spfp`, the pitches), refined by its sub-type ("Pitch - Football (5-a-side)").
//!
//! External id: the feature id (`pub_spfp.1029`).

use serde_json::Value;
use trustfold_events::CandidateFields;

use super::common::{
    at, categories_from, entity_class_for, member, number, parse_payload, text, Records,
};
use super::{ExtractError, Extraction, Extractor};
use trustfold_normalize::geo::bng_to_wgs84;
use trustfold_normalize::phone::Region;
use trustfold_normalize::{
    address::{address_line, locality},
    geo::coordinates,
    postcode::postcode,
    text::{display_name, free_text, required_name},
};

/// The register's layers (the part of the feature id after `pub_spf`) and what each holds,
/// as a label for `categories_from`.
pub const LAYERS: &[(&str, &str)] = &[
    ("at", "athletics track"),
    ("bg", "bowling green"),
    ("fs", "fitness suite"),
    ("gc", "golf course"),
    ("ir", "ice rink"),
    ("itc", "indoor tennis court"),
    ("otc", "outdoor tennis court"),
    ("p", "pitch"),
    ("sc", "squash court"),
    ("sh", "sports hall"),
    ("sp", "swimming pool"),
];

/// The extent of the British National Grid, metres: eastings and northings outside it are
/// not BNG (and the projection formulas are meaningless there).
const BNG_EASTING_MAX: f64 = 700_000.0;
const BNG_NORTHING_MAX: f64 = 1_300_000.0;

/// The sportscotland WFS extractor.
pub struct WfsExtractor;

impl Extractor for WfsExtractor {
    fn source(&self) -> &'static str {
        "sport_scotland"
    }

    fn version(&self) -> u32 {
        1
    }

    fn extract(&self, body: &[u8], _region: Option<Region>) -> Result<Extraction, ExtractError> {
        // The register's features carry no phone number, so the region reads nothing.
        let doc = parse_payload(body, self.source())?;
        let features = doc
            .get("features")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ExtractError(
                    "sport_scotland: the payload has no `features` array (not a WFS GeoJSON \
                     FeatureCollection)"
                        .to_string(),
                )
            })?;
        let mut out = Records::new();
        for (i, feature) in features.iter().enumerate() {
            let id = text(member(feature, "id")).map(|s| s.trim().to_string());
            match (id.filter(|id| !id.is_empty()), feature_fields(feature)) {
                (Some(id), Ok(fields)) => {
                    let fields = with_layer(fields, &id);
                    out.push(id, fields);
                }
                (None, _) => out.skip(format!("{}: no id", at("feature", i, None))),
                (Some(id), Err(why)) => out.skip(format!("{}: {why}", at("feature", i, Some(&id)))),
            }
        }
        Ok(out.finish())
    }
}

/// The layer code of a feature id: `pub_spfitc.18` → `itc` (a `namespace:` prefix, as in
/// `ext_spf:pub_spfitc.18`, is ignored).
pub fn layer_of(feature_id: &str) -> Option<&str> {
    let local = feature_id.rsplit(':').next()?;
    let (layer, _) = local.split_once('.')?;
    layer.strip_prefix("pub_spf")
}

/// Adds what the feature's layer says to its categories and sports.
fn with_layer(mut f: CandidateFields, id: &str) -> CandidateFields {
    if let Some((_, label)) = layer_of(id).and_then(|l| LAYERS.iter().find(|(code, _)| *code == l))
    {
        let (categories, sports) = categories_from(&[label]);
        f.categories.extend(categories);
        f.sports.extend(sports);
        f.entity_class = Some(entity_class_for(&f.categories).to_string());
    }
    f
}

/// The feature's first point as `(x, y)`: from a Point or MultiPoint geometry, else from
/// the easting/northing properties.
fn raw_point(feature: &Value) -> Option<(f64, f64)> {
    let geometry = member(feature, "geometry");
    let coords = geometry.and_then(|g| member(g, "coordinates"));
    let point = match geometry.and_then(|g| text(member(g, "type"))).as_deref() {
        Some("Point") => coords,
        Some("MultiPoint") => coords.and_then(|c| c.get(0)),
        _ => None,
    };
    if let Some(p) = point {
        if let (Some(x), Some(y)) = (number(p.get(0)), number(p.get(1))) {
            return Some((x, y));
        }
    }
    let props = member(feature, "properties")?;
    [("eastings_x", "northing_y"), ("x", "y")]
        .iter()
        .find_map(|(e, n)| Some((number(member(props, e))?, number(member(props, n))?)))
}

/// WGS84 `(lat, lon)` of a feature; `Err` says why there is none.
fn position(feature: &Value) -> Result<(f64, f64), String> {
    let (x, y) = raw_point(feature).ok_or("no coordinates")?;
    if x.abs() <= 180.0 && y.abs() <= 90.0 {
        return coordinates(y, x);
    }
    if !(0.0..=BNG_EASTING_MAX).contains(&x) || !(0.0..=BNG_NORTHING_MAX).contains(&y) {
        return Err(format!(
            "coordinates ({x}, {y}) are neither degrees nor British National Grid"
        ));
    }
    let (lat, lon) = bng_to_wgs84(x, y);
    coordinates(lat, lon)
}

/// One feature's canonical fields (without its layer); `Err` is why it is skipped.
fn feature_fields(feature: &Value) -> Result<CandidateFields, String> {
    let props = member(feature, "properties")
        .filter(|p| p.is_object())
        .ok_or("no properties")?;
    let name = required_name(text(member(props, "site_name")).as_deref())?;
    let (lat, lon) = position(feature)?;
    let mut f = CandidateFields {
        name: Some(name),
        lat: Some(lat),
        lon: Some(lon),
        country: Some("GB".to_string()),
        ..CandidateFields::default()
    };
    f.address_lines = text(member(props, "address"))
        .and_then(|a| address_line(&a))
        .into_iter()
        .collect();
    f.postcode = text(member(props, "postcode")).and_then(|p| postcode(&p));
    f.locality = text(member(props, "town")).and_then(|t| locality(&t));
    let sub_type = ["facility_sub_type", "fac_sub_type"]
        .iter()
        .find_map(|k| text(member(props, k)));
    if let Some(sub_type) = &sub_type {
        let (categories, sports) = categories_from(&[sub_type.as_str()]);
        f.categories = categories;
        f.sports = sports;
    }
    f.entity_class = Some(entity_class_for(&f.categories).to_string());
    // The facility itself, for people reading the candidate: "Pitch - Football
    // (5-a-side), surface 3G".
    let surface = text(member(props, "surface")).and_then(|s| display_name(&s));
    let description = match (sub_type.as_deref().and_then(display_name), surface) {
        (Some(t), Some(s)) => Some(format!("{t}, surface {s}")),
        (Some(t), None) => Some(t),
        (None, Some(s)) => Some(format!("surface {s}")),
        (None, None) => None,
    };
    f.description = description.and_then(|d| free_text(&d, 300));
    // Some layers carry the register's own site id: it groups a site's facilities.
    if let Some(site) = text(member(props, "site_id")) {
        f.external_ids
            .insert("sportscotland_site".to_string(), vec![site]);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::common::test_support::{arbitrary_json, assert_never_panics};
    use proptest::prelude::*;
    use serde_json::json;
    use trustfold_normalize::geo::haversine_km;

    const PITCHES: &[u8] = include_bytes!("../../fixtures/world/sport_scotland/pub_spfp.json");
    const HALLS: &[u8] = include_bytes!("../../fixtures/world/sport_scotland/pub_spfsh.json");
    const POOLS: &[u8] = include_bytes!("../../fixtures/world/sport_scotland/pub_spfsp.json");
    const INDOOR_TENNIS: &[u8] =
        include_bytes!("../../fixtures/world/sport_scotland/pub_spfitc.json");

    /// Every layer file of the fixture world and its feature count (MANIFEST.json).
    const LAYER_FILES: &[(&[u8], usize)] = &[
        (
            include_bytes!("../../fixtures/world/sport_scotland/pub_spfat.json"),
            10,
        ),
        (
            include_bytes!("../../fixtures/world/sport_scotland/pub_spfbg.json"),
            77,
        ),
        (
            include_bytes!("../../fixtures/world/sport_scotland/pub_spffs.json"),
            59,
        ),
        (
            include_bytes!("../../fixtures/world/sport_scotland/pub_spfgc.json"),
            62,
        ),
        (
            include_bytes!("../../fixtures/world/sport_scotland/pub_spfir.json"),
            1,
        ),
        (INDOOR_TENNIS, 28),
        (
            include_bytes!("../../fixtures/world/sport_scotland/pub_spfotc.json"),
            183,
        ),
        (PITCHES, 406),
        (
            include_bytes!("../../fixtures/world/sport_scotland/pub_spfsc.json"),
            55,
        ),
        (HALLS, 324),
        (POOLS, 57),
    ];

    #[test]
    fn every_layer_of_the_world_reads_whole() {
        let mut total = 0;
        for (bytes, n) in LAYER_FILES {
            let e = WfsExtractor.extract(bytes, Some(Region::GB)).unwrap();
            assert_eq!(e.records.len(), *n);
            assert!(e.skipped.is_empty(), "{:?}", e.skipped);
            for r in &e.records {
                let f = &r.fields;
                assert!(!f.categories.is_empty(), "{r:?}");
                let (lat, lon) = (f.lat.unwrap(), f.lon.unwrap());
                assert!(
                    (55.85..56.05).contains(&lat) && (-3.5..-3.0).contains(&lon),
                    "{r:?}"
                );
            }
            total += e.records.len();
        }
        assert_eq!(total, 1262, "all City of Edinburgh rows of the register");
    }

    #[test]
    fn powerleague_portobello_pitches() {
        let e = WfsExtractor.extract(PITCHES, Some(Region::GB)).unwrap();
        let pl = e
            .records
            .iter()
            .find(|r| r.external_id == "pub_spfp.1029")
            .unwrap();
        let f = &pl.fields;
        assert_eq!(f.name.as_deref(), Some("Powerleague Portobello"));
        assert_eq!(f.address_lines, vec!["10 Westbank Street"]);
        assert_eq!(f.postcode.as_deref(), Some("EH15 1DR"));
        assert_eq!(f.locality.as_deref(), Some("Edinburgh"));
        assert_eq!(f.categories, vec!["five_a_side", "pitch"]);
        assert_eq!(f.sports, vec!["football"]);
        assert_eq!(
            f.description.as_deref(),
            Some("Pitch - Football (5-a-side), surface 3G")
        );
        // BNG (330210, 674292) converted; the register's own lat/lng agree to a metre.
        let off_m = haversine_km(
            (f.lat.unwrap(), f.lon.unwrap()),
            (55.95655889562928, -3.1193233798286606),
        ) * 1000.0;
        assert!(off_m < 1.0, "{off_m} m");
        let sites = e
            .records
            .iter()
            .filter(|r| r.fields.name.as_deref() == Some("Powerleague Portobello"))
            .count();
        assert!(sites > 1, "one row per pitch: the register repeats sites");
    }

    #[test]
    fn layers_and_their_property_variants() {
        // Sports halls use x, y and fac_sub_type; pools have no postcode.
        let halls = WfsExtractor.extract(HALLS, Some(Region::GB)).unwrap();
        let k = halls
            .records
            .iter()
            .find(|r| r.external_id == "pub_spfsh.1638")
            .unwrap();
        assert_eq!(k.fields.name.as_deref(), Some("Kirkliston Sports Centre"));
        assert_eq!(k.fields.locality.as_deref(), Some("Kirkliston"));
        assert_eq!(k.fields.categories, vec!["sports_hall"]);
        let pools = WfsExtractor.extract(POOLS, Some(Region::GB)).unwrap();
        let p = pools
            .records
            .iter()
            .find(|r| r.external_id == "pub_spfsp.89")
            .unwrap();
        assert_eq!(p.fields.postcode, None);
        assert_eq!(p.fields.categories, vec!["swimming_pool"]);
        assert_eq!(p.fields.sports, vec!["swimming"]);
        let tennis = WfsExtractor
            .extract(INDOOR_TENNIS, Some(Region::GB))
            .unwrap();
        let t = tennis
            .records
            .iter()
            .find(|r| r.external_id == "pub_spfitc.18")
            .unwrap();
        assert_eq!(t.fields.categories, vec!["tennis_court"]);
        assert_eq!(t.fields.sports, vec!["tennis"]);
        assert_eq!(
            t.fields.external_ids.get("sportscotland_site"),
            Some(&vec!["3862".to_string()])
        );
        assert_eq!(layer_of("pub_spfitc.18"), Some("itc"));
        assert_eq!(layer_of("ext_spf:pub_spfp.1029"), Some("p"));
        assert_eq!(layer_of("pub_sptk.12572"), None);
        assert_eq!(layer_of("nodot"), None);
    }

    #[test]
    fn geometry_variants_and_broken_features() {
        let doc = json!({"type": "FeatureCollection", "features": [
            {"id": "pub_spfp.1", "geometry": {"type": "Point", "coordinates": [-3.1193, 55.9566]},
             "properties": {"site_name": "Already Degrees"}},
            {"id": "pub_spfp.2", "geometry": null,
             "properties": {"site_name": "From Properties", "eastings_x": "330210", "northing_y": 674292}},
            {"id": "pub_sptk.3", "geometry": {"type": "MultiPoint", "coordinates": [[-3.0653, 55.9245]]},
             "properties": {"site_name": "Other Layer"}},
            {"id": "pub_spfp.4", "geometry": {"type": "Point", "coordinates": [9e6, 9e6]},
             "properties": {"site_name": "Off The Grid"}},
            {"id": "pub_spfp.5", "geometry": {"type": "Point", "coordinates": []},
             "properties": {"site_name": "Nowhere"}},
            {"id": "pub_spfp.6", "properties": {"site_name": null}},
            {"geometry": null, "properties": {"site_name": "No Id"}},
            {"id": "pub_spfp.8"},
            "not a feature"
        ]});
        let e = WfsExtractor
            .extract(doc.to_string().as_bytes(), Some(Region::GB))
            .unwrap();
        let ids: Vec<&str> = e.records.iter().map(|r| r.external_id.as_str()).collect();
        assert_eq!(ids, vec!["pub_spfp.1", "pub_spfp.2", "pub_sptk.3"]);
        assert_eq!(e.records[0].fields.lat, Some(55.9566));
        assert!(
            haversine_km(
                (
                    e.records[1].fields.lat.unwrap(),
                    e.records[1].fields.lon.unwrap()
                ),
                (55.95656, -3.11932)
            ) < 0.01
        );
        assert!(
            e.records[2].fields.categories.is_empty(),
            "unknown layer: no category"
        );
        assert_eq!(
            e.skipped,
            vec![
                "feature 3 (pub_spfp.4): coordinates (9000000, 9000000) are neither degrees nor British National Grid",
                "feature 4 (pub_spfp.5): no coordinates",
                "feature 5 (pub_spfp.6): no name",
                "feature 6: no id",
                "feature 7 (pub_spfp.8): no properties",
                "feature 8: no id",
            ]
        );
    }

    #[test]
    fn payloads_that_are_not_feature_collections_are_errors() {
        let x = |s: &str| WfsExtractor.extract(s.as_bytes(), Some(Region::GB));
        assert!(x("{}").is_err());
        assert!(x("[]").is_err());
        assert!(x(r#"<?xml version="1.0"?><ows:ExceptionReport/>"#).is_err());
        assert_eq!(
            x(r#"{"type": "FeatureCollection", "features": []}"#).unwrap(),
            Extraction::default()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_payloads_never_panic(v in arbitrary_json(), bytes in any::<Vec<u8>>()) {
            let feature = json!({"type": "Feature", "id": "pub_spfp.1029",
                "geometry": {"type": "Point", "coordinates": [330210, 674292]},
                "properties": {"site_name": "Powerleague Portobello", "address": "10 Westbank Street",
                    "postcode": "EH15 1DR", "town": "Edinburgh", "eastings_x": 330210,
                    "northing_y": 674292, "facility_sub_type": "Pitch - Football (5-a-side)",
                    "surface": "3G", "site_id": 1}});
            assert_never_panics(&WfsExtractor, &v, &bytes,
                &|f| json!({"type": "FeatureCollection", "features": [f]}), &feature);
        }
    }
}
