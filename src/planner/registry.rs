//! The connector registry: what each data source is good for, what it costs and how slow it
//! is.
//!
//! The figures are seed 000 Appendix A (trust, use for, avoid for) and Appendix B (cost per
//! call, average latency, results per call). They are constants, not configuration, because
//! the planner's tests pin decisions to them: changing a price is a design change that should
//! show up as a failing test and a reviewed diff, not as a silent behaviour change.
//!
//! Trust here is the *planning* trust (which source is worth calling). The merge-time trust
//! policy (`trust.toml`, per-field exceptions, overrides) lives elsewhere and may differ.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::source::ConnectorId;

/// Added to a connector's cost before dividing trust by it (seed 000 Issue 5:
/// `value = trust / (cost + 0.01)`).
///
/// The floor keeps free sources finite and ranks them among themselves by trust, while a
/// paid source must be much more trusted to beat a free one: a free source at trust 0.70
/// scores 70, Google Places at 0.95 and $0.017 scores about 35.
pub const VALUE_COST_FLOOR_USD: f64 = 0.01;

/// The role a connector plays in a run.
///
/// Discovery sources find candidate places; enrichment sources add authoritative detail to
/// candidates. Ordering: discovery sorts first, which is how plans are displayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Finds candidates (serper, openstreetmap).
    Discovery,
    /// Adds detail to candidates (google_places and the domain sources).
    Enrichment,
}

impl Phase {
    /// The phase's wire name, identical to its serde form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Discovery => "discovery",
            Phase::Enrichment => "enrichment",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the planner knows about one connector.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ConnectorSpec {
    /// Which connector this describes.
    pub id: ConnectorId,
    /// Planning trust, 0..=1 (seed 000 Appendix A).
    pub trust: f64,
    /// Price of one call in US dollars (Appendix B).
    pub cost_usd: f64,
    /// Typical (average) latency of one call (Appendix B).
    pub latency_ms: u32,
    /// Typical number of results per call, low and high (Appendix B).
    pub results_per_call: (u32, u32),
    /// The connector's role; fixed per connector so that a plan reads the same in every mode.
    pub phase: Phase,
    /// What the source is good for (Appendix A "Use For").
    pub use_for: &'static str,
    /// What the source should not be relied on for (Appendix A "Avoid For").
    pub avoid_for: &'static str,
}

impl ConnectorSpec {
    /// Whether a call costs nothing.
    pub fn is_free(&self) -> bool {
        self.cost_usd == 0.0
    }

    /// Cost-benefit score `trust / (cost + 0.01)` (seed 000 Issue 5); higher is better.
    pub fn value(&self) -> f64 {
        self.trust / (self.cost_usd + VALUE_COST_FLOOR_USD)
    }
}

/// Every connector's figures, indexed by [`ConnectorId::index`].
///
/// A `static` rather than a `const` so that [`spec`] can hand out `&'static` references.
pub static REGISTRY: [ConnectorSpec; 6] = [
    ConnectorSpec {
        id: ConnectorId::Serper,
        trust: 0.75,
        cost_usd: 0.010,
        latency_ms: 1_200,
        results_per_call: (10, 10),
        phase: Phase::Discovery,
        use_for: "Discovery, names, basic info",
        avoid_for: "Structured data (unreliable)",
    },
    ConnectorSpec {
        id: ConnectorId::GooglePlaces,
        trust: 0.95,
        cost_usd: 0.017,
        latency_ms: 600,
        results_per_call: (1, 3),
        phase: Phase::Enrichment,
        use_for: "Name, address, coords, phone, website, hours",
        avoid_for: "Categories (too generic)",
    },
    ConnectorSpec {
        id: ConnectorId::OpenStreetMap,
        trust: 0.70,
        cost_usd: 0.0,
        latency_ms: 2_000,
        results_per_call: (5, 20),
        phase: Phase::Discovery,
        use_for: "Coords, address, basic POI data",
        avoid_for: "Phone, website (often outdated)",
    },
    ConnectorSpec {
        id: ConnectorId::SportScotland,
        trust: 0.90,
        cost_usd: 0.0,
        latency_ms: 1_500,
        results_per_call: (3, 10),
        phase: Phase::Enrichment,
        use_for: "Facility types, sports offered, official names",
        avoid_for: "Commercial details",
    },
    ConnectorSpec {
        id: ConnectorId::EdinburghCouncil,
        trust: 0.90,
        cost_usd: 0.0,
        latency_ms: 1_800,
        results_per_call: (2, 8),
        phase: Phase::Enrichment,
        use_for: "Public facility info, council services",
        avoid_for: "Private businesses",
    },
    ConnectorSpec {
        id: ConnectorId::OpenChargeMap,
        trust: 0.80,
        cost_usd: 0.0,
        latency_ms: 1_200,
        results_per_call: (1, 5),
        phase: Phase::Enrichment,
        use_for: "EV charging specifics",
        avoid_for: "General venue info",
    },
];

/// The registry entry for `id`.
pub fn spec(id: ConnectorId) -> &'static ConnectorSpec {
    let entry = &REGISTRY[id.index()];
    // The table is indexed by position; a reordering would silently mislabel every figure.
    debug_assert_eq!(entry.id, id, "REGISTRY out of order");
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_registry_then_it_is_indexed_in_the_order_of_all() {
        for (i, id) in ConnectorId::ALL.into_iter().enumerate() {
            assert_eq!(id.index(), i);
            assert_eq!(REGISTRY[i].id, id);
            assert_eq!(spec(id).id, id);
        }
    }

    #[test]
    fn given_seed_000_appendices_then_trust_cost_and_latency_match() {
        // (id, trust, cost, latency, results) straight from Appendix A and B.
        let expected = [
            (ConnectorId::GooglePlaces, 0.95, 0.017, 600, (1, 3)),
            (ConnectorId::SportScotland, 0.90, 0.0, 1_500, (3, 10)),
            (ConnectorId::EdinburghCouncil, 0.90, 0.0, 1_800, (2, 8)),
            (ConnectorId::Serper, 0.75, 0.010, 1_200, (10, 10)),
            (ConnectorId::OpenStreetMap, 0.70, 0.0, 2_000, (5, 20)),
            (ConnectorId::OpenChargeMap, 0.80, 0.0, 1_200, (1, 5)),
        ];
        for (id, trust, cost_usd, latency_ms, results) in expected {
            let s = spec(id);
            assert!((s.trust - trust).abs() < 1e-12, "{id} trust");
            assert!((s.cost_usd - cost_usd).abs() < 1e-12, "{id} cost");
            assert_eq!(s.latency_ms, latency_ms, "{id} latency");
            assert_eq!(s.results_per_call, results, "{id} results");
        }
    }

    #[test]
    fn given_free_and_paid_sources_then_value_ranks_free_high_trust_first() {
        let value = |id: ConnectorId| spec(id).value();
        // trust / (cost + 0.01)
        assert!((value(ConnectorId::Serper) - 37.5).abs() < 1e-9);
        assert!((value(ConnectorId::GooglePlaces) - 0.95 / 0.027).abs() < 1e-9);
        assert!((value(ConnectorId::SportScotland) - 90.0).abs() < 1e-9);
        // Every free source outranks every paid one.
        for free in ConnectorId::ALL
            .into_iter()
            .filter(|id| spec(*id).is_free())
        {
            for paid in ConnectorId::ALL
                .into_iter()
                .filter(|id| !spec(*id).is_free())
            {
                assert!(value(free) > value(paid), "{free} should outrank {paid}");
            }
        }
    }

    #[test]
    fn given_each_connector_when_displayed_and_parsed_then_it_round_trips() {
        for id in ConnectorId::ALL {
            assert_eq!(id.to_string(), id.as_str());
            assert_eq!(id.as_str().parse::<ConnectorId>(), Ok(id));
            let json = serde_json::to_string(&id).expect("serialise");
            assert_eq!(json, format!("\"{}\"", id.as_str()));
            let back: ConnectorId = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(back, id);
        }
        assert_eq!(ConnectorId::OpenStreetMap.as_str(), "openstreetmap");
    }

    #[test]
    fn given_sloppy_case_or_hyphens_when_parsed_then_accepted() {
        assert_eq!(
            "Google-Places".parse::<ConnectorId>(),
            Ok(ConnectorId::GooglePlaces)
        );
        assert_eq!(
            " OPEN_CHARGE_MAP ".parse::<ConnectorId>(),
            Ok(ConnectorId::OpenChargeMap)
        );
    }

    #[test]
    fn given_an_unknown_name_when_parsed_then_the_error_lists_valid_names() {
        let err = "osm"
            .parse::<ConnectorId>()
            .expect_err("osm is not a wire name");
        let message = err.to_string();
        assert!(message.contains("'osm'"), "{message}");
        for id in ConnectorId::ALL {
            assert!(message.contains(id.as_str()), "{message}");
        }
    }

    #[test]
    fn given_phases_then_they_serialise_snake_case_and_discovery_sorts_first() {
        assert_eq!(
            serde_json::to_string(&Phase::Discovery).expect("serialise"),
            "\"discovery\""
        );
        assert_eq!(Phase::Enrichment.to_string(), "enrichment");
        assert!(Phase::Discovery < Phase::Enrichment);
    }
}
