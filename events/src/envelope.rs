//! The envelope every event travels in, and its canonical byte form for hashing.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::catalogue::{DecodeError, EventPayload};
use crate::hash::Hash32;

/// Namespace for deterministic (v5) event ids.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x7f0c_3e9a_54d1_4b8e_9a57_2f6d_1c0b_e3a1);

/// Derives a deterministic event id from the parts that identify a fact, so a retried
/// append of the same fact carries the same id and is a no-op.
pub fn derived_event_id(parts: &[&str]) -> Uuid {
    let mut name = Vec::new();
    for part in parts {
        // Length-prefix each part so ("ab","c") and ("a","bc") differ.
        name.extend_from_slice(&(part.len() as u64).to_le_bytes());
        name.extend_from_slice(part.as_bytes());
    }
    Uuid::new_v5(&EVENT_ID_NAMESPACE, &name)
}

/// An event about to be appended. The store assigns `seq`, the stream version,
/// `recorded_at` and the hash.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub id: Uuid,
    pub stream: String,
    pub run_id: Option<Uuid>,
    pub trace_id: Option<String>,
    pub causation_id: Option<Uuid>,
    pub payload: EventPayload,
}

impl NewEvent {
    /// A new event with a fresh id. Use [`NewEvent::with_id`] where the fact is
    /// deterministic, so retries are idempotent. Fresh ids are UUIDv7 (time-ordered), so
    /// the log's id index grows at its end instead of being written all over.
    pub fn new(stream: impl Into<String>, payload: impl Into<EventPayload>) -> Self {
        NewEvent {
            id: Uuid::now_v7(),
            stream: stream.into(),
            run_id: None,
            trace_id: None,
            causation_id: None,
            payload: payload.into(),
        }
    }

    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Sets the run and its trace id.
    pub fn in_run(mut self, run_id: Uuid, trace_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id);
        self.trace_id = Some(trace_id.into());
        self
    }

    pub fn caused_by(mut self, event_id: Uuid) -> Self {
        self.causation_id = Some(event_id);
        self
    }
}

/// An event as stored: envelope plus the payload bytes, not yet decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub seq: u64,
    pub id: Uuid,
    pub stream: String,
    pub stream_version: u64,
    pub kind: String,
    pub schema_version: u32,
    pub recorded_at: DateTime<Utc>,
    pub run_id: Option<Uuid>,
    pub trace_id: Option<String>,
    pub causation_id: Option<Uuid>,
    pub payload: Vec<u8>,
    pub hash: Hash32,
}

/// A decoded event: the envelope and the typed payload in its current shape.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEvent {
    pub seq: u64,
    pub id: Uuid,
    pub stream: String,
    pub stream_version: u64,
    pub schema_version: u32,
    pub recorded_at: DateTime<Utc>,
    pub run_id: Option<Uuid>,
    pub trace_id: Option<String>,
    pub causation_id: Option<Uuid>,
    pub payload: EventPayload,
    pub hash: Hash32,
}

/// The form recorded times are stored and hashed in: RFC 3339, microseconds, `Z`.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl StoredEvent {
    /// Decodes (and upcasts) the payload, consuming the stored event (no copies).
    pub fn into_recorded(self) -> Result<RecordedEvent, DecodeError> {
        let payload = EventPayload::decode(&self.kind, self.schema_version, &self.payload)?;
        Ok(RecordedEvent {
            seq: self.seq,
            id: self.id,
            stream: self.stream,
            stream_version: self.stream_version,
            schema_version: self.schema_version,
            recorded_at: self.recorded_at,
            run_id: self.run_id,
            trace_id: self.trace_id,
            causation_id: self.causation_id,
            payload,
            hash: self.hash,
        })
    }

    /// Decodes (and upcasts) the payload.
    pub fn decode(&self) -> Result<RecordedEvent, DecodeError> {
        let payload = EventPayload::decode(&self.kind, self.schema_version, &self.payload)?;
        Ok(RecordedEvent {
            seq: self.seq,
            id: self.id,
            stream: self.stream.clone(),
            stream_version: self.stream_version,
            schema_version: self.schema_version,
            recorded_at: self.recorded_at,
            run_id: self.run_id,
            trace_id: self.trace_id.clone(),
            causation_id: self.causation_id,
            payload,
            hash: self.hash,
        })
    }

    /// The chained hash this event must carry, given the previous event's hash.
    pub fn expected_hash(&self, prev: &Hash32) -> Hash32 {
        self.envelope().chained_hash(prev)
    }

    /// The stable canonical byte form (see [`Envelope::write_canonical`]).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 256);
        self.envelope()
            .write_canonical(&mut |b| out.extend_from_slice(b));
        out
    }

    /// Hash of what the writer meant (not where or when it landed): used to tell an
    /// idempotent retry from an id reused for a different fact.
    pub fn content_hash(&self) -> Hash32 {
        self.envelope().content_hash()
    }

    /// The envelope fields, borrowed.
    pub fn envelope(&self) -> Envelope<'_> {
        Envelope {
            seq: self.seq,
            id: self.id,
            stream: &self.stream,
            stream_version: self.stream_version,
            kind: &self.kind,
            schema_version: self.schema_version,
            recorded_at_us: self.recorded_at.timestamp_micros(),
            run_id: self.run_id,
            trace_id: self.trace_id.as_deref(),
            causation_id: self.causation_id,
            payload: &self.payload,
        }
    }
}

/// Borrowed view of everything that is hashed about one event.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    pub seq: u64,
    pub id: Uuid,
    pub stream: &'a str,
    pub stream_version: u64,
    pub kind: &'a str,
    pub schema_version: u32,
    /// Recorded time in microseconds since the Unix epoch (UTC), as stored.
    pub recorded_at_us: i64,
    pub run_id: Option<Uuid>,
    pub trace_id: Option<&'a str>,
    pub causation_id: Option<Uuid>,
    pub payload: &'a [u8],
}

impl Envelope<'_> {
    /// The stable canonical byte form: a tag, then every envelope field and the payload,
    /// each length-prefixed (u64 little-endian) so no two events share a form. Absent
    /// optional fields are empty. `seq` is included so that reordering breaks the chain.
    pub fn write_canonical(&self, sink: &mut dyn FnMut(&[u8])) {
        let mut field = |bytes: &[u8]| {
            sink(&(bytes.len() as u64).to_le_bytes());
            sink(bytes);
        };
        field(b"trustfold-event/1");
        field(&self.seq.to_le_bytes());
        field(self.id.as_bytes());
        field(self.stream.as_bytes());
        field(&self.stream_version.to_le_bytes());
        field(self.kind.as_bytes());
        field(&self.schema_version.to_le_bytes());
        field(&self.recorded_at_us.to_le_bytes());
        field(self.run_id.as_ref().map_or(&[][..], |u| u.as_bytes()));
        field(self.trace_id.unwrap_or("").as_bytes());
        field(self.causation_id.as_ref().map_or(&[][..], |u| u.as_bytes()));
        field(self.payload);
    }

    /// blake3(previous hash || canonical bytes), computed without building the bytes.
    pub fn chained_hash(&self, prev: &Hash32) -> Hash32 {
        let mut h = blake3::Hasher::new();
        h.update(&prev.0);
        self.write_canonical(&mut |b| {
            h.update(b);
        });
        Hash32(*h.finalize().as_bytes())
    }

    /// Hash of the writer's content only: stream, kind, version, run, trace, causation,
    /// payload — not seq, stream version or recorded time, which the store assigns.
    pub fn content_hash(&self) -> Hash32 {
        content_hash(
            self.stream,
            self.kind,
            self.schema_version,
            self.run_id,
            self.trace_id,
            self.causation_id,
            self.payload,
        )
    }
}

pub(crate) fn content_hash(
    stream: &str,
    kind: &str,
    schema_version: u32,
    run_id: Option<Uuid>,
    trace_id: Option<&str>,
    causation_id: Option<Uuid>,
    payload: &[u8],
) -> Hash32 {
    let mut h = blake3::Hasher::new();
    for part in [
        stream.as_bytes(),
        kind.as_bytes(),
        &schema_version.to_le_bytes(),
        run_id.as_ref().map_or(&[][..], |u| u.as_bytes()),
        trace_id.unwrap_or("").as_bytes(),
        causation_id.as_ref().map_or(&[][..], |u| u.as_bytes()),
        payload,
    ] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    Hash32(*h.finalize().as_bytes())
}

/// The JSON line form of an event used by `trustfold events --json` (NDJSON).
#[derive(Serialize)]
pub struct EventJson<'a> {
    pub seq: u64,
    pub id: Uuid,
    pub stream: &'a str,
    pub stream_version: u64,
    pub kind: &'a str,
    pub schema_version: u32,
    pub recorded_at: String,
    pub run_id: Option<Uuid>,
    pub trace_id: Option<&'a str>,
    pub causation_id: Option<Uuid>,
    pub hash: String,
    pub payload: serde_json::Value,
}

impl StoredEvent {
    /// The NDJSON form. The payload is shown as stored (its own schema version);
    /// undecodable bytes are shown as a string so a damaged log can still be inspected.
    pub fn to_json(&self) -> EventJson<'_> {
        let payload = serde_json::from_slice(&self.payload).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&self.payload).into_owned())
        });
        EventJson {
            seq: self.seq,
            id: self.id,
            stream: &self.stream,
            stream_version: self.stream_version,
            kind: &self.kind,
            schema_version: self.schema_version,
            recorded_at: format_time(&self.recorded_at),
            run_id: self.run_id,
            trace_id: self.trace_id.as_deref(),
            causation_id: self.causation_id,
            hash: self.hash.to_hex(),
            payload,
        }
    }
}
