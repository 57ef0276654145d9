//! Extraction: one deterministic, version-stamped extractor per source turns a raw payload
//! into canonical candidates ([`CandidateFields`]). Extractors are pure functions of the
//! bytes: no I/O, no clock, no randomness, and they never panic — a malformed record is
//! skipped with its reason, an unreadable payload is an [`ExtractError`].

pub mod common;
pub mod tabular;

// One module per connector's native format.
pub mod edinburgh_council;
pub mod google_places;
pub mod open_charge_map;
pub mod openstreetmap;
pub mod serper;
pub mod sport_scotland;

use trustfold_events::CandidateFields;
use trustfold_normalize::phone::Region;

/// Most records taken from one payload; the rest are reported as skipped.
pub const RECORDS_PER_PAYLOAD_MAX: usize = 50_000;

/// One record of a payload, in canonical form.
#[derive(Clone, Debug, PartialEq)]
pub struct Extracted {
    /// The record's id at its source (e.g. `ChIJ...`, `way/123`, `pub_spfp.1029`).
    pub external_id: String,
    pub fields: CandidateFields,
    /// The line of the file the record starts on, for line-based files (CSV, NDJSON):
    /// what an import names when two records disagree.
    pub line: Option<usize>,
}

/// Everything one payload yielded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extraction {
    pub records: Vec<Extracted>,
    /// Records left out, each with its reason, e.g. `"feature 3 (pub_spfp.12): no coordinates"`.
    pub skipped: Vec<String>,
}

/// The payload as a whole cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractError(pub String);

impl std::fmt::Display for ExtractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExtractError {}

/// A source's extractor.
pub trait Extractor: Send + Sync {
    /// The source name recorded on candidates (`serper`, `google_places`, ...).
    fn source(&self) -> &'static str;
    /// Bumped whenever the output for the same bytes changes.
    fn version(&self) -> u32;
    /// Reads a payload of this source's native format. `region` is the country whose
    /// national format its phone numbers (and postcodes, where a format reads them apart)
    /// are written in (`None`: numbers without a country code cannot be read).
    fn extract(&self, body: &[u8], region: Option<Region>) -> Result<Extraction, ExtractError>;
}

/// The extractor for a connector's native payloads.
pub fn extractor_for(source: &str) -> Option<&'static dyn Extractor> {
    Some(match source {
        "serper" => &serper::SerperExtractor,
        "google_places" => &google_places::GooglePlacesExtractor,
        "openstreetmap" => &openstreetmap::OverpassExtractor,
        "sport_scotland" => &sport_scotland::WfsExtractor,
        "edinburgh_council" => &edinburgh_council::ArcgisExtractor,
        "open_charge_map" => &open_charge_map::OcmExtractor,
        _ => return None,
    })
}
