//! The event catalogue: every kind of fact trustfold records, typed and versioned.
//!
//! Each payload struct is one kind. Its `KIND` string and `SCHEMA_VERSION` are stored in
//! the envelope, and the payload is stored as JSON. Decoding reads every version ever
//! written: [`EventPayload::decode`] upcasts older shapes (v1 -> v2 -> ...) into the current
//! one in memory. A stored event is never rewritten.
//!
//! Names are facts in the past tense. Fields carry their unit last (`latency_ms`,
//! `cost_usd`, `payload_bytes`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::hash::{BlobHash, Hash32};

/// One status for runs everywhere: events, the runs projection and the CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Initiated,
    Running,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    /// Whether no further event of the run is expected.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Initiated => "initiated",
            RunStatus::Running => "running",
            RunStatus::Paused => "paused",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connector the planner chose, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedConnector {
    pub connector: String,
    /// `discovery` or `enrichment`.
    pub phase: String,
    pub reason: String,
    pub cost_usd: f64,
    pub trust: f64,
}

/// A connector the planner left out, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedConnector {
    pub connector: String,
    pub reason: String,
}

/// A run began: the question and the planner's answer to "which sources, and why".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    pub query: String,
    /// `discover-many`, `resolve-one` or `import`.
    pub mode: String,
    pub budget_usd: f64,
    /// The planner's query features as it serialised them (sports, brands, areas, intent).
    #[serde(default)]
    pub features: serde_json::Value,
    pub selected: Vec<PlannedConnector>,
    pub skipped: Vec<SkippedConnector>,
    /// `--keep-off-topic`: off-topic candidates were accepted rather than rejected.
    /// Absent (false) in events written before it existed; a resumed run reads it back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_off_topic: bool,
}

/// An HTTP request as recorded: secrets are removed before it gets here.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RedactedRequest {
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A connector answered; the raw bytes are in the blob store under `payload_hash`.
///
/// Schema history: v1 had no `attempt`, `content_type` or `transport` (every response was
/// a first attempt over HTTP). v2 added them; v1 events upcast with `attempt = 1`,
/// `content_type = None`, `transport = "http"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectorResponded {
    pub connector: String,
    pub request: RedactedRequest,
    pub http_status: u16,
    pub latency_ms: u64,
    pub cost_usd: f64,
    pub attempt: u32,
    pub payload_hash: BlobHash,
    pub payload_bytes: u64,
    pub content_type: Option<String>,
    /// `http` for a live call, `fixture` for the offline recorded world.
    pub transport: String,
}

/// The v1 shape of [`ConnectorResponded`], kept so old logs stay readable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectorRespondedV1 {
    pub connector: String,
    pub request: RedactedRequest,
    pub http_status: u16,
    pub latency_ms: u64,
    pub cost_usd: f64,
    pub payload_hash: BlobHash,
    pub payload_bytes: u64,
}

impl From<ConnectorRespondedV1> for ConnectorResponded {
    fn from(v1: ConnectorRespondedV1) -> Self {
        ConnectorResponded {
            connector: v1.connector,
            request: v1.request,
            http_status: v1.http_status,
            latency_ms: v1.latency_ms,
            cost_usd: v1.cost_usd,
            attempt: 1,
            payload_hash: v1.payload_hash,
            payload_bytes: v1.payload_bytes,
            content_type: None,
            transport: "http".to_string(),
        }
    }
}

/// How a connector call failed. Classes group failures for retry policy and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    Timeout,
    Connect,
    #[serde(rename = "http_4xx")]
    Http4xx,
    #[serde(rename = "http_5xx")]
    Http5xx,
    /// Rate limited (HTTP 429): retried after `Retry-After`.
    RateLimited,
    Decode,
    TooLarge,
    /// A secret the connector needs is missing or rejected.
    Auth,
    Other,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::Http4xx => "http_4xx",
            ErrorClass::Http5xx => "http_5xx",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Decode => "decode",
            ErrorClass::TooLarge => "too_large",
            ErrorClass::Auth => "auth",
            ErrorClass::Other => "other",
        }
    }
}

/// One attempt of a connector call failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectorFailed {
    pub connector: String,
    pub request: RedactedRequest,
    pub error_class: ErrorClass,
    pub http_status: Option<u16>,
    /// Redacted error message.
    pub message: String,
    /// Normalised hash of the error, so the same failure groups together.
    pub fingerprint: String,
    pub attempt: u32,
    pub latency_ms: u64,
    /// Whether another attempt follows; if not, a `DeadLettered` event does.
    pub will_retry: bool,
    pub retry_after_ms: Option<u64>,
    /// The bytes that could not be decoded, if any were received and kept.
    #[serde(default)]
    pub payload_hash: Option<BlobHash>,
}

/// A connector call gave up after its last attempt and was parked for replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLettered {
    pub dead_letter_id: String,
    pub connector: String,
    pub query: String,
    pub request: RedactedRequest,
    pub error_class: ErrorClass,
    pub fingerprint: String,
    pub attempts: u32,
    pub last_message: String,
}

/// Electric-vehicle charging details of a place.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvDetails {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connector_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_kw_max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

/// The canonical fields of one record of one source. Every field is optional: sources
/// know different things. Multi-valued fields are sorted and deduplicated by extractors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CandidateFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_class: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sports: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_lines: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub socials: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening_hours: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev: Option<EvDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating_count: Option<u64>,
    /// Other sources' ids this record names, e.g. {"osm": ["way/123"]}.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_ids: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One record of one response became a candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateExtracted {
    pub candidate_id: String,
    pub source: String,
    pub external_id: String,
    pub fields: CandidateFields,
    pub extractor: String,
    pub extractor_version: u32,
    pub payload_hash: BlobHash,
    /// Records the extractor skipped in this payload, each with its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_records: Vec<String>,
}

impl CandidateExtracted {
    /// A fingerprint of the record itself: its source, its id there and its canonical
    /// fields (not the extractor, the payload or the run). Two extractions with the same
    /// record hash say exactly the same about the place, so a later one may be recorded as
    /// [`CandidatesSeenAgain`] instead of a second copy.
    pub fn record_hash(&self) -> Hash32 {
        record_hash(&self.source, &self.external_id, &self.fields)
    }
}

/// See [`CandidateExtracted::record_hash`]: blake3 over the source, the external id and
/// every canonical field, each tagged and length-prefixed (numbers by their bits), so two
/// records hash alike exactly when they say the same. Written out field by field rather
/// than through JSON: every fold computes it for every extraction.
pub fn record_hash(source: &str, external_id: &str, fields: &CandidateFields) -> Hash32 {
    struct H(blake3::Hasher);
    impl H {
        fn bytes(&mut self, tag: u8, b: &[u8]) {
            self.0.update(&[tag]);
            self.0.update(&(b.len() as u64).to_le_bytes());
            self.0.update(b);
        }
        fn text(&mut self, tag: u8, s: &Option<String>) {
            match s {
                Some(s) => self.bytes(tag, s.as_bytes()),
                None => {
                    self.0.update(&[tag, 0xff]);
                }
            }
        }
        fn list(&mut self, tag: u8, items: &[String]) {
            self.0.update(&[tag]);
            self.0.update(&(items.len() as u64).to_le_bytes());
            for i in items {
                self.bytes(0, i.as_bytes());
            }
        }
        fn float(&mut self, tag: u8, x: Option<f64>) {
            match x {
                Some(x) => self.bytes(tag, &x.to_bits().to_le_bytes()),
                None => {
                    self.0.update(&[tag, 0xff]);
                }
            }
        }
        fn int(&mut self, tag: u8, n: Option<u64>) {
            match n {
                Some(n) => self.bytes(tag, &n.to_le_bytes()),
                None => {
                    self.0.update(&[tag, 0xff]);
                }
            }
        }
    }
    // Destructured, so that a field added to `CandidateFields` cannot be left out here.
    let CandidateFields {
        name,
        entity_class,
        categories,
        sports,
        address_lines,
        locality,
        postcode,
        country,
        lat,
        lon,
        phone,
        email,
        website,
        socials,
        opening_hours,
        ev,
        rating,
        rating_count,
        external_ids,
        description,
    } = fields;
    let mut h = H(blake3::Hasher::new());
    h.0.update(b"trustfold/record/v1");
    h.bytes(1, source.as_bytes());
    h.bytes(2, external_id.as_bytes());
    h.text(3, name);
    h.text(4, entity_class);
    h.list(5, categories);
    h.list(6, sports);
    h.list(7, address_lines);
    h.text(8, locality);
    h.text(9, postcode);
    h.text(10, country);
    h.float(11, *lat);
    h.float(12, *lon);
    h.text(13, phone);
    h.text(14, email);
    h.text(15, website);
    h.0.update(&[16]);
    h.0.update(&(socials.len() as u64).to_le_bytes());
    for (k, v) in socials {
        h.bytes(0, k.as_bytes());
        h.bytes(0, v.as_bytes());
    }
    h.text(17, opening_hours);
    match ev {
        Some(ev) => {
            let EvDetails {
                connector_types,
                power_kw_max,
                points,
                operator,
            } = ev;
            h.list(18, connector_types);
            h.float(19, *power_kw_max);
            h.int(20, points.map(u64::from));
            h.text(21, operator);
        }
        None => {
            h.0.update(&[18, 0xff]);
        }
    }
    h.float(22, *rating);
    h.int(23, *rating_count);
    h.0.update(&[24]);
    h.0.update(&(external_ids.len() as u64).to_le_bytes());
    for (k, ids) in external_ids {
        h.bytes(0, k.as_bytes());
        h.list(0, ids);
    }
    h.text(25, description);
    Hash32(*h.0.finalize().as_bytes())
}

/// Records of a payload were seen again, unchanged: the compact form of re-observation,
/// so that a daily refresh of an unchanged register does not copy every record again.
///
/// Meaning, at its place in the log: every candidate whose latest observation (its last
/// `CandidateExtracted`) came from one of `earlier_payloads` was in `payload_hash` again
/// with exactly the same fields, except the candidates named in `absent` (no longer in
/// the payload). Records that changed are recorded as `CandidateExtracted` before this
/// event, which moves their latest observation to the new payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidatesSeenAgain {
    pub source: String,
    /// The payload they were seen in this time.
    pub payload_hash: BlobHash,
    pub extractor: String,
    pub extractor_version: u32,
    /// The payloads their latest observations came from.
    pub earlier_payloads: Vec<BlobHash>,
    /// Candidates of those payloads that this payload no longer has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    /// How many records this stands for.
    pub n_records: u64,
    /// Records the extractor skipped in this payload, each with its reason (they ride on
    /// this event when no record of the payload is recorded one by one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_records: Vec<String>,
}

/// A candidate passed the validity checks and is not a duplicate within its run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateAccepted {
    pub candidate_id: String,
    pub checks: Vec<String>,
}

/// Why a candidate was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    Invalid,
    DuplicateInRun,
    DuplicateInSource,
    /// The record does not answer the query (another sport, another place, a shop for a
    /// venue query); `detail` holds the evidence. Added without a version bump: older
    /// events never carry it, so every stored event still decodes.
    OffTopic,
}

/// A candidate was rejected, with the reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateRejected {
    pub candidate_id: String,
    pub reason: RejectReason,
    pub detail: String,
    pub duplicate_of: Option<String>,
}

/// Where a candidate went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MergeOutcome {
    NewEntity {
        entity_id: String,
    },
    ExistingEntity {
        entity_id: String,
    },
    NeedsReview {
        review_id: String,
        entity_ids: Vec<String>,
    },
}

/// Identity was decided for a candidate, with the score and the features behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergeDecided {
    pub candidate_id: String,
    pub decision: MergeOutcome,
    pub score: f64,
    pub features: BTreeMap<String, f64>,
    pub matcher_version: String,
    /// `matcher`, or `review:<review_id>` when a person decided.
    pub decided_by: String,
}

/// Why a person is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    AmbiguousMatch,
    BudgetOverrun,
    FieldConflict,
}

/// A decision was escalated to a person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewRequested {
    pub review_id: String,
    pub reason: ReviewReason,
    pub candidate_id: Option<String>,
    pub entity_ids: Vec<String>,
    pub detail: String,
}

/// What the person decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Approved,
    Rejected,
}

/// A person answered a review; the answer is authoritative.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewResolved {
    pub review_id: String,
    pub decision: ReviewDecision,
    pub reason: String,
    pub by: String,
    pub entity_id: Option<String>,
}

/// An admin set (or, with `value = None`, cleared) one field of one entity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldOverridden {
    pub entity_id: String,
    pub field: String,
    pub value: Option<serde_json::Value>,
    pub reason: String,
    pub by: String,
}

/// A person took a record out of an entity the matcher had wrongly put it in (`split`).
/// The move itself is the `MergeDecided` just before it in the same batch (its
/// `decided_by` is `split:<entity_id>`), so every reader of identity folds it like any
/// other decision; this event says who corrected what and why. It lives in the stream
/// of the entity the record left, appended with that stream's expected version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntitySplit {
    /// The entity the record left; it keeps its id (also when the record founded it).
    pub entity_id: String,
    pub candidate_id: String,
    /// Where the record went: a new entity, or an existing one (`--into`).
    pub into_entity_id: String,
    /// The split founded `into_entity_id`.
    pub new_entity: bool,
    pub reason: String,
    pub by: String,
}

/// A person joined two entities the matcher had left apart (`merge`). The members'
/// moves are the `MergeDecided` events just before it in the same batch (`decided_by`
/// `merge:<merged_entity_id>`); this event ends `merged_entity_id`, whose id and slug
/// from then on name `entity_id`. It lives in the stream of the entity that ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntitiesMerged {
    /// The survivor: it keeps its id and slug.
    pub entity_id: String,
    /// The entity that ends: every member joined `entity_id`.
    pub merged_entity_id: String,
    /// The members that moved.
    pub candidate_ids: Vec<String>,
    pub reason: String,
    pub by: String,
}

/// Figures of one connector within a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectorFigures {
    pub connector: String,
    /// `ok`, `failed`, `skipped`.
    pub status: String,
    pub latency_ms: u64,
    pub candidates: u64,
    pub cost_usd: f64,
    pub attempts: u32,
    pub transport: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A run's figures, written with its terminal event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    pub duration_ms: u64,
    pub cost_usd: f64,
    pub connectors: Vec<ConnectorFigures>,
    pub candidates_found: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub entities_created: u64,
    pub entities_updated: u64,
    pub reviews_requested: u64,
    /// Records seen again unchanged (recorded as `CandidatesSeenAgain`, not one by one).
    /// Absent in runs recorded before it existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seen_unchanged: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A run finished its work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunCompleted {
    pub figures: RunFigures,
}

/// A run stopped on an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFailed {
    pub stage: String,
    pub error: String,
    pub figures: RunFigures,
}

/// A run was cancelled (signal or user).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunCancelled {
    pub reason: String,
    pub figures: RunFigures,
}

/// Errors decoding a stored payload.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event kind {kind:?} (this build knows: {known})")]
    UnknownKind { kind: String, known: String },
    #[error(
        "event kind {kind} has schema version {version}, newer than this build knows \
         (up to {max}): upgrade trustfold to read it"
    )]
    FutureVersion {
        kind: String,
        version: u32,
        max: u32,
    },
    #[error("event kind {kind} has schema version {version}, which never existed")]
    UnknownVersion { kind: String, version: u32 },
    #[error("payload of {kind} v{version} is not valid: {source}")]
    Json {
        kind: String,
        version: u32,
        #[source]
        source: serde_json::Error,
    },
}

macro_rules! catalogue {
    ($( $kind:ident => $version:expr ),+ $(,)?) => {
        /// Every kind of event, by name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind { $( $kind ),+ }

        impl EventKind {
            /// All kinds, in catalogue order.
            pub const ALL: &'static [EventKind] = &[ $( EventKind::$kind ),+ ];

            /// The stored name, e.g. `RunStarted`.
            pub fn as_str(self) -> &'static str {
                match self { $( EventKind::$kind => stringify!($kind) ),+ }
            }

            /// The schema version this build writes.
            pub fn current_version(self) -> u32 {
                match self { $( EventKind::$kind => $version ),+ }
            }
        }

        impl FromStr for EventKind {
            type Err = DecodeError;
            fn from_str(s: &str) -> Result<Self, DecodeError> {
                match s {
                    $( stringify!($kind) => Ok(EventKind::$kind), )+
                    _ => Err(DecodeError::UnknownKind {
                        kind: s.chars().take(64).collect(),
                        known: EventKind::ALL.iter().map(|k| k.as_str())
                            .collect::<Vec<_>>().join(", "),
                    }),
                }
            }
        }

        /// A typed event payload: one variant per kind, each in its current shape.
        // Candidates are the common case and the largest variant; boxing them would add an
        // allocation to the hottest path of replay for no gain.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq)]
        pub enum EventPayload { $( $kind($kind) ),+ }

        impl EventPayload {
            pub fn kind(&self) -> EventKind {
                match self { $( EventPayload::$kind(_) => EventKind::$kind ),+ }
            }

            /// The payload as stored: JSON of the current shape.
            pub fn encode(&self) -> Vec<u8> {
                let encoded = match self {
                    $( EventPayload::$kind(p) => serde_json::to_vec(p) ),+
                };
                // Serialising plain structs of strings, numbers and maps cannot fail.
                encoded.expect("event payloads always serialise")
            }

            fn decode_current(kind: EventKind, bytes: &[u8]) -> Result<Self, serde_json::Error> {
                Ok(match kind {
                    $( EventKind::$kind => EventPayload::$kind(serde_json::from_slice(bytes)?) ),+
                })
            }
        }

        $(
            impl From<$kind> for EventPayload {
                fn from(p: $kind) -> Self { EventPayload::$kind(p) }
            }
        )+
    };
}

catalogue! {
    RunStarted => 1,
    ConnectorResponded => 2,
    ConnectorFailed => 1,
    DeadLettered => 1,
    CandidateExtracted => 1,
    CandidateAccepted => 1,
    CandidateRejected => 1,
    CandidatesSeenAgain => 1,
    MergeDecided => 1,
    ReviewRequested => 1,
    ReviewResolved => 1,
    FieldOverridden => 1,
    EntitySplit => 1,
    EntitiesMerged => 1,
    RunCompleted => 1,
    RunFailed => 1,
    RunCancelled => 1,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EventPayload {
    /// Decodes a stored payload of any version of its kind, upcasting old shapes.
    pub fn decode(kind: &str, version: u32, bytes: &[u8]) -> Result<Self, DecodeError> {
        let kind: EventKind = kind.parse()?;
        let max = kind.current_version();
        if version > max {
            return Err(DecodeError::FutureVersion {
                kind: kind.to_string(),
                version,
                max,
            });
        }
        let json_err = |source| DecodeError::Json {
            kind: kind.to_string(),
            version,
            source,
        };
        if version == max {
            return Self::decode_current(kind, bytes).map_err(json_err);
        }
        // Upcasters: one arm per retired shape, each lifting it to the next version.
        match (kind, version) {
            (EventKind::ConnectorResponded, 1) => {
                let v1: ConnectorRespondedV1 = serde_json::from_slice(bytes).map_err(json_err)?;
                Ok(EventPayload::ConnectorResponded(v1.into()))
            }
            _ => Err(DecodeError::UnknownVersion {
                kind: kind.to_string(),
                version,
            }),
        }
    }

    /// The schema version this payload is written with.
    pub fn schema_version(&self) -> u32 {
        self.kind().current_version()
    }

    /// Blobs this event names; they must exist before it is appended.
    pub fn blob_refs(&self) -> Vec<BlobHash> {
        match self {
            EventPayload::ConnectorResponded(p) => vec![p.payload_hash],
            EventPayload::ConnectorFailed(p) => p.payload_hash.into_iter().collect(),
            EventPayload::CandidateExtracted(p) => vec![p.payload_hash],
            EventPayload::CandidatesSeenAgain(p) => vec![p.payload_hash],
            _ => Vec::new(),
        }
    }

    /// The run status this event moves its run to, if it is a run lifecycle event.
    pub fn run_status(&self) -> Option<RunStatus> {
        match self {
            EventPayload::RunStarted(_) => Some(RunStatus::Running),
            EventPayload::RunCompleted(_) => Some(RunStatus::Completed),
            EventPayload::RunFailed(_) => Some(RunStatus::Failed),
            EventPayload::RunCancelled(_) => Some(RunStatus::Cancelled),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_hash_changes_with_every_field_and_only_with_them() {
        let base = CandidateFields {
            name: Some("Leith Links".into()),
            ..CandidateFields::default()
        };
        let h = |f: &CandidateFields| record_hash("osm", "way/1", f);
        assert_eq!(h(&base), h(&base.clone()));
        assert_ne!(h(&base), record_hash("osm", "way/2", &base));
        assert_ne!(h(&base), record_hash("osmx", "way/1", &base));
        let variants: Vec<CandidateFields> = vec![
            CandidateFields {
                name: Some("Leith Links ".into()),
                ..base.clone()
            },
            CandidateFields {
                phone: Some("+44".into()),
                ..base.clone()
            },
            CandidateFields {
                lat: Some(55.9),
                ..base.clone()
            },
            CandidateFields {
                categories: vec!["park".into()],
                ..base.clone()
            },
            CandidateFields {
                sports: vec!["park".into()],
                ..base.clone()
            },
            CandidateFields {
                rating_count: Some(3),
                ..base.clone()
            },
            CandidateFields {
                ev: Some(EvDetails::default()),
                ..base.clone()
            },
            CandidateFields {
                description: Some("".into()),
                ..base.clone()
            },
        ];
        let mut seen = std::collections::HashSet::new();
        seen.insert(h(&base));
        for v in &variants {
            assert!(seen.insert(h(v)), "{v:?} hashes like another record");
        }
    }

    #[test]
    fn error_classes_serialise_as_their_documented_names() {
        for class in [
            ErrorClass::Timeout,
            ErrorClass::Connect,
            ErrorClass::Http4xx,
            ErrorClass::Http5xx,
            ErrorClass::RateLimited,
            ErrorClass::Decode,
            ErrorClass::TooLarge,
            ErrorClass::Auth,
            ErrorClass::Other,
        ] {
            let json = serde_json::to_string(&class).unwrap();
            assert_eq!(json, format!("\"{}\"", class.as_str()));
            assert_eq!(serde_json::from_str::<ErrorClass>(&json).unwrap(), class);
        }
    }
}
