//! Open Charge Map `GET /v3/poi` (verbose) payloads: a JSON array of POIs, each with
//! `ID`, `UUID`, `AddressInfo{Title, AddressLine1, AddressLine2, Town, StateOrProvince,
//! Postcode, Country{ISOCode}, Latitude, Longitude, ContactTelephone1, RelatedURL}`,
//! `Connections[{ConnectionType{Title}, PowerKW}]`, `NumberOfPoints`,
//! `OperatorInfo{Title}`, `UsageType{Title}`, `StatusType{Title}`.
//!
//! Every POI is an `ev_charger` in category `ev_charging`. External id: `ocm/<ID>`; the
//! UUID is kept in `external_ids.ocm_uuid`.
//!
//! The locality needs care: contributors put the post town in `StateOrProvince` as often
//! as in `Town`, and `Town` sometimes holds a street or a fragment (St James Quarter is
//! `Town: "Quarter"`, `StateOrProvince: "Edinburgh"`). See [`ocm_locality`].

use serde_json::Value;
use trustfold_events::{CandidateFields, EvDetails};

use super::common::{array, at, count, member, number, parse_payload, phone, quote, text, Records};
use super::{ExtractError, Extraction, Extractor};
use trustfold_normalize::phone::Region;
use trustfold_normalize::{
    address::{address_line, is_region, locality, looks_like_street},
    geo::coordinates,
    postcode::postcode,
    text::{display_name, free_text, required_name},
    web::website,
};

/// Open Charge Map's name for "no known operator".
const UNKNOWN_OPERATOR: &str = "(Unknown Operator)";

/// The Open Charge Map extractor.
pub struct OcmExtractor;

impl Extractor for OcmExtractor {
    fn source(&self) -> &'static str {
        "open_charge_map"
    }

    fn version(&self) -> u32 {
        1
    }

    fn extract(&self, body: &[u8], region: Option<Region>) -> Result<Extraction, ExtractError> {
        let doc = parse_payload(body, self.source())?;
        let pois = doc.as_array().ok_or_else(|| {
            ExtractError("open_charge_map: the payload is not a JSON array of POIs".to_string())
        })?;
        let mut out = Records::new();
        for (i, poi) in pois.iter().enumerate() {
            let Some(id) = count(member(poi, "ID")) else {
                out.skip(format!("{}: no ID", at("poi", i, None)));
                continue;
            };
            let id = format!("ocm/{id}");
            match poi_fields(poi, region) {
                Ok(fields) => out.push(id, fields),
                Err(why) => out.skip(format!("{}: {why}", at("poi", i, Some(&id)))),
            }
        }
        Ok(out.finish())
    }
}

/// The locality of a POI from its `Town` and `StateOrProvince`, and whether `Town` is a
/// street that belongs in the address lines instead.
///
/// The rule: a `StateOrProvince` that is a place rather than a region (not "Scotland",
/// "Midlothian", ...) is the post town, because Edinburgh contributors write the city there
/// and a district, fragment or street in `Town` ("Quarter", "Leith", "Robertson Close").
/// Otherwise `Town` is the locality (its last comma-separated part: "Halbeath,
/// Dunfermline" → "Dunfermline"), unless it reads like a street. "City of X" is X.
pub fn ocm_locality(town: Option<&str>, state: Option<&str>) -> (Option<String>, Option<String>) {
    let town_street = town.filter(|t| looks_like_street(t)).and_then(address_line);
    let state_town = state.filter(|s| !is_region(s)).and_then(locality);
    if let Some(state_town) = state_town {
        return (Some(state_town), town_street);
    }
    let town_town = town
        .filter(|t| !looks_like_street(t))
        .and_then(|t| t.rsplit(',').map(str::trim).find(|p| !is_region(p)))
        .and_then(locality);
    (town_town, town_street)
}

/// One POI's canonical fields; `Err` is why it is skipped.
fn poi_fields(poi: &Value, region: Option<Region>) -> Result<CandidateFields, String> {
    let address = member(poi, "AddressInfo")
        .filter(|a| a.is_object())
        .ok_or("no AddressInfo")?;
    let a = |k: &str| text(member(address, k));
    let name = required_name(a("Title").as_deref())?;
    let (lat, lon) = match (
        number(member(address, "Latitude")),
        number(member(address, "Longitude")),
    ) {
        (Some(lat), Some(lon)) => coordinates(lat, lon)?,
        _ => return Err("no coordinates".to_string()),
    };
    let mut f = CandidateFields {
        name: Some(name),
        entity_class: Some("ev_charger".to_string()),
        categories: vec!["ev_charging".to_string()],
        lat: Some(lat),
        lon: Some(lon),
        ..CandidateFields::default()
    };
    f.address_lines = [a("AddressLine1"), a("AddressLine2")]
        .into_iter()
        .flatten()
        .filter_map(|l| address_line(&l))
        .collect();
    let (town, street) = ocm_locality(a("Town").as_deref(), a("StateOrProvince").as_deref());
    f.locality = town;
    f.address_lines.extend(street);
    f.postcode = a("Postcode").and_then(|p| postcode(&p));
    f.country = Some(
        member(address, "Country")
            .and_then(|c| text(member(c, "ISOCode")))
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| c.len() == 2 && c.chars().all(|c| c.is_ascii_uppercase()))
            .unwrap_or_else(|| "GB".to_string()),
    );
    f.phone = a("ContactTelephone1").and_then(|p| phone(&p, region));
    f.website = a("RelatedURL").and_then(|u| website(&u));

    let connections = array(poi, "Connections");
    let mut ev = EvDetails {
        connector_types: connections
            .iter()
            .filter_map(|c| member(c, "ConnectionType").and_then(|t| text(member(t, "Title"))))
            .filter_map(|t| display_name(&t))
            .map(|t| quote(&t, 64))
            .collect(),
        ..EvDetails::default()
    };
    ev.power_kw_max = connections
        .iter()
        .filter_map(|c| number(member(c, "PowerKW")))
        .filter(|kw| *kw > 0.0 && *kw < 10_000.0)
        .fold(None, |m: Option<f64>, kw| Some(m.map_or(kw, |m| m.max(kw))));
    ev.points = count(member(poi, "NumberOfPoints")).and_then(|n| u32::try_from(n).ok());
    ev.operator = member(poi, "OperatorInfo")
        .and_then(|o| text(member(o, "Title")))
        .filter(|t| t.trim() != UNKNOWN_OPERATOR)
        .and_then(|t| display_name(&t));
    f.ev = Some(ev);

    // How the charger may be used, for people: "Public - Membership Required; Operational".
    let titles: Vec<String> = ["UsageType", "StatusType"]
        .iter()
        .filter_map(|k| member(poi, k).and_then(|t| text(member(t, "Title"))))
        .filter_map(|t| display_name(&t))
        .collect();
    f.description = free_text(&titles.join("; "), 300);
    if let Some(uuid) = text(member(poi, "UUID")).and_then(|u| free_text(&u, 64)) {
        f.external_ids.insert("ocm_uuid".to_string(), vec![uuid]);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::common::test_support::{arbitrary_json, assert_never_panics};
    use proptest::prelude::*;
    use serde_json::json;

    const WORLD: &[u8] = include_bytes!("../../fixtures/world/open_charge_map.json");

    #[test]
    fn world_fixture() {
        let e = OcmExtractor.extract(WORLD, Some(Region::GB)).unwrap();
        assert_eq!(
            e,
            OcmExtractor.extract(WORLD, Some(Region::GB)).unwrap(),
            "deterministic"
        );
        assert_eq!(e.records.len(), 103);
        assert!(e.skipped.is_empty(), "{:?}", e.skipped);
        assert!(e
            .records
            .iter()
            .all(|r| r.fields.entity_class.as_deref() == Some("ev_charger")));

        let sjq = &e.records[0];
        assert_eq!(sjq.external_id, "ocm/195263");
        let f = &sjq.fields;
        assert_eq!(f.name.as_deref(), Some("St James Quarter-Level B1"));
        assert_eq!(
            f.locality.as_deref(),
            Some("Edinburgh"),
            "Town is \"Quarter\""
        );
        assert_eq!(f.address_lines, vec!["St James Square"]);
        assert_eq!(f.postcode.as_deref(), Some("EH1 3AD"));
        assert_eq!(f.country.as_deref(), Some("GB"));
        let ev = f.ev.as_ref().unwrap();
        assert_eq!(ev.operator.as_deref(), Some("POD Point (UK)"));
        assert_eq!(ev.connector_types, vec!["Type 2 (Socket Only)"]);
        assert_eq!(ev.power_kw_max, Some(7.0));
        assert_eq!(
            f.external_ids.get("ocm_uuid"),
            Some(&vec!["EDB7E25B-6D34-477F-ADA9-0945380ECD65".to_string()])
        );
        let quarters: Vec<_> = e
            .records
            .iter()
            .filter(|r| {
                r.fields
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("St James Quarter"))
            })
            .collect();
        assert!(quarters.len() >= 3);
        assert!(quarters
            .iter()
            .all(|r| r.fields.locality.as_deref() == Some("Edinburgh")));

        let porty = e
            .records
            .iter()
            .find(|r| r.external_id == "ocm/9000001")
            .unwrap();
        let ev = porty.fields.ev.as_ref().unwrap();
        assert_eq!(
            ev.connector_types,
            vec!["CCS (Type 2)", "CHAdeMO", "Type 2 (Tethered Connector)"],
            "trimmed, distinct, sorted"
        );
        assert_eq!(ev.power_kw_max, Some(50.0));
        assert_eq!(ev.points, Some(2));
        assert_eq!(ev.operator.as_deref(), Some("Chargeplace Scotland"));
        assert_eq!(porty.fields.postcode.as_deref(), Some("EH15 2BS"));

        // Not a single "Quarter", street or region came out as a locality.
        for r in &e.records {
            if let Some(l) = &r.fields.locality {
                assert!(
                    !looks_like_street(l) && !is_region(l) && l != "Quarter",
                    "{l}"
                );
            }
        }
        let unknown_operator = e
            .records
            .iter()
            .filter(|r| r.fields.ev.as_ref().is_some_and(|ev| ev.operator.is_none()))
            .count();
        assert!(unknown_operator >= 2);
    }

    #[test]
    fn localities_from_town_and_state() {
        type Row<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        let rows: &[Row] = &[
            (Some("Quarter"), Some("Edinburgh"), Some("Edinburgh"), None),
            (Some("Edinburgh"), None, Some("Edinburgh"), None),
            (Some("Edinburgh"), Some("Scotland"), Some("Edinburgh"), None),
            (Some("Dalkeith"), Some("Midlothian"), Some("Dalkeith"), None),
            (Some("City of Edinburgh"), None, Some("Edinburgh"), None),
            (
                Some("Horse Wynd"),
                Some("City of Edinburgh"),
                Some("Edinburgh"),
                Some("Horse Wynd"),
            ),
            (
                Some("75 James Dewar Road"),
                Some("Edinburgh"),
                Some("Edinburgh"),
                Some("75 James Dewar Road"),
            ),
            (
                Some("Halbeath, Dunfermline"),
                None,
                Some("Dunfermline"),
                None,
            ),
            (Some("Leith"), Some("Edinburgh"), Some("Edinburgh"), None),
            (None, None, None, None),
            (Some("n/a"), Some(""), None, None),
        ];
        for (town, state, want_town, want_street) in rows {
            let (t, s) = ocm_locality(*town, *state);
            assert_eq!(t.as_deref(), *want_town, "{town:?} {state:?}");
            assert_eq!(s.as_deref(), *want_street, "{town:?} {state:?}");
        }
    }

    #[test]
    fn errors_and_broken_pois() {
        let x = |s: &str| OcmExtractor.extract(s.as_bytes(), Some(Region::GB));
        assert!(x("{}").is_err());
        assert!(x(r#"{"error": "bad key"}"#).is_err());
        assert_eq!(x("[]").unwrap(), Extraction::default());
        let doc = json!([
            {"ID": 1, "AddressInfo": {"Title": "Ok", "Latitude": 55.9, "Longitude": -3.1},
             "Connections": [{"ConnectionType": null, "PowerKW": "NaN"}, {"PowerKW": -5}],
             "NumberOfPoints": 1e12, "OperatorInfo": {"Title": "(Unknown Operator)"}},
            {"ID": "x"},
            {"ID": 3},
            {"ID": 4, "AddressInfo": {"Title": "No Place"}},
            {"ID": 5, "AddressInfo": {"Title": null, "Latitude": 55.9, "Longitude": -3.1}},
            {"ID": 6, "AddressInfo": {"Title": "Null Island", "Latitude": 0.0, "Longitude": 0.0}}
        ]);
        let e = x(&doc.to_string()).unwrap();
        assert_eq!(e.records.len(), 1);
        let f = &e.records[0].fields;
        assert_eq!(f.ev, None, "nothing known of the charger");
        assert_eq!(f.categories, vec!["ev_charging"]);
        assert_eq!(
            e.skipped,
            vec![
                "poi 1: no ID",
                "poi 2 (ocm/3): no AddressInfo",
                "poi 3 (ocm/4): no coordinates",
                "poi 4 (ocm/5): no name",
                "poi 5 (ocm/6): coordinates (0, 0): null island, a missing location",
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_payloads_never_panic(v in arbitrary_json(), bytes in any::<Vec<u8>>()) {
            // The members the extractor reads, from the world's first POI (the whole
            // verbose POI has a hundred members: mutating each would only slow the test).
            let poi = json!({"ID": 195263, "UUID": "EDB7E25B-6D34-477F-ADA9-0945380ECD65",
                "AddressInfo": {"Title": "St James Quarter-Level B1", "AddressLine1": "St James Square",
                    "AddressLine2": null, "Town": "Quarter", "StateOrProvince": "Edinburgh",
                    "Postcode": "EH1 3AD", "Country": {"ISOCode": "GB"}, "Latitude": 55.95479,
                    "Longitude": -3.1885916, "ContactTelephone1": null, "RelatedURL": null},
                "Connections": [{"ConnectionType": {"Title": "Type 2 (Socket Only)"}, "PowerKW": 7}],
                "NumberOfPoints": 2, "OperatorInfo": {"Title": "POD Point (UK)"},
                "UsageType": {"Title": "Public - Membership Required"}, "StatusType": {"Title": "Operational"}});
            assert_never_panics(&OcmExtractor, &v, &bytes, &|p| json!([p]), &poi);
        }
    }
}
