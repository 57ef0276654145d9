//! A source's identity: the six connectors trustfold can call, by name, and the country
//! each writes its phone numbers in.
//!
//! This sits below both the planner (which chooses connectors) and the connectors (which
//! call them) and extraction (which reads what they said): each names a source, none owns
//! the name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use trustfold_normalize::phone::Region;

/// Longest source name accepted.
pub const SOURCE_NAME_CHARS_MAX: usize = 64;

/// Whether `name` is a valid source name (`import --source`, `distinct_sources` in `matching.toml`):
/// lowercase ASCII letters, digits and `_`, one to [`SOURCE_NAME_CHARS_MAX`] of them.
pub fn valid_source(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= SOURCE_NAME_CHARS_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// One of the six data sources trustfold knows how to call.
///
/// Serialised in snake_case as the rest of the system (events, fixtures, `--connectors`)
/// spells them; note `openstreetmap` is one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorId {
    /// Serper: Google web search results (paid, discovery).
    Serper,
    /// Google Places API (new): authoritative place details (paid).
    GooglePlaces,
    /// OpenStreetMap through the Overpass API (free POI data).
    #[serde(rename = "openstreetmap")]
    OpenStreetMap,
    /// sportscotland's facility data: official sports facility types (free).
    SportScotland,
    /// City of Edinburgh Council open data: public facilities (free).
    EdinburghCouncil,
    /// Open Charge Map: EV charge points (free).
    OpenChargeMap,
}

impl ConnectorId {
    /// Every connector, in the order of seed 000 Appendix B and of [`REGISTRY`].
    pub const ALL: [ConnectorId; 6] = [
        ConnectorId::Serper,
        ConnectorId::GooglePlaces,
        ConnectorId::OpenStreetMap,
        ConnectorId::SportScotland,
        ConnectorId::EdinburghCouncil,
        ConnectorId::OpenChargeMap,
    ];

    /// The connector's wire name, identical to its serde form.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConnectorId::Serper => "serper",
            ConnectorId::GooglePlaces => "google_places",
            ConnectorId::OpenStreetMap => "openstreetmap",
            ConnectorId::SportScotland => "sport_scotland",
            ConnectorId::EdinburghCouncil => "edinburgh_council",
            ConnectorId::OpenChargeMap => "open_charge_map",
        }
    }

    /// Position in [`ConnectorId::ALL`] and [`REGISTRY`].
    pub const fn index(self) -> usize {
        match self {
            ConnectorId::Serper => 0,
            ConnectorId::GooglePlaces => 1,
            ConnectorId::OpenStreetMap => 2,
            ConnectorId::SportScotland => 3,
            ConnectorId::EdinburghCouncil => 4,
            ConnectorId::OpenChargeMap => 5,
        }
    }
}

impl fmt::Display for ConnectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connector name that is not one of [`ConnectorId::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownConnector {
    /// The name as given.
    pub name: String,
}

impl fmt::Display for UnknownConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let valid: Vec<&str> = ConnectorId::ALL.iter().map(|id| id.as_str()).collect();
        write!(
            f,
            "unknown connector '{}': valid names are {}",
            self.name,
            valid.join(", ")
        )
    }
}

impl std::error::Error for UnknownConnector {}

impl FromStr for ConnectorId {
    type Err = UnknownConnector;

    /// Parses a wire name. Case and `-` versus `_` are forgiven because people type
    /// `--connectors Google-Places`; anything else is an error that lists the valid names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_lowercase().replace('-', "_");
        ConnectorId::ALL
            .into_iter()
            .find(|id| id.as_str() == wanted)
            .ok_or_else(|| UnknownConnector {
                name: s.to_string(),
            })
    }
}

impl ConnectorId {
    /// The region the connector's records write national phone numbers in (unless the
    /// trust policy sets `region` for it): all six serve Scotland, so Great Britain.
    pub const fn region(self) -> Region {
        match self {
            ConnectorId::Serper
            | ConnectorId::GooglePlaces
            | ConnectorId::OpenStreetMap
            | ConnectorId::SportScotland
            | ConnectorId::EdinburghCouncil
            | ConnectorId::OpenChargeMap => Region::GB,
        }
    }
}

/// The region each connector's records are read in: the trust policy's `region` for it,
/// else its own.
pub fn connector_regions(
    policy: Option<&trustfold_projections::TrustPolicy>,
) -> std::collections::BTreeMap<ConnectorId, Region> {
    ConnectorId::ALL
        .into_iter()
        .map(|id| {
            let region = policy
                .and_then(|p| p.source_region(id.as_str()))
                .unwrap_or(id.region());
            (id, region)
        })
        .collect()
}

/// The region a source's records are read in: the one given for this import (`import
/// --region`), else the trust policy's `region` for the source, else the connector's own
/// (GB for the six connectors), else the policy's `[default]` region, else none (a number
/// without its country code is then kept as written, with the reason).
pub fn region_for(
    source: &str,
    given: Option<Region>,
    policy: Option<&trustfold_projections::TrustPolicy>,
) -> Option<Region> {
    given
        .or_else(|| policy.and_then(|p| p.source_region(source)))
        .or_else(|| source.parse::<ConnectorId>().ok().map(ConnectorId::region))
        .or_else(|| policy.and_then(|p| p.default_region()))
}
