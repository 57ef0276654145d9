//! What every engine's append does the same way: the limits a batch is checked against,
//! numbering and hash-chaining its events, telling a retry from a reused id, and checking
//! the log's tail against the head the last append recorded.

use std::collections::{BTreeMap, HashSet};

use uuid::Uuid;

use crate::envelope::{Envelope, NewEvent, StoredEvent};
use crate::hash::Hash32;
use crate::limits::{
    BATCH_EVENTS_MAX, ENVELOPE_TEXT_BYTES_MAX, EVENT_BYTES_MAX, STREAM_NAME_BYTES_MAX,
};
use crate::store::{AppendBatch, Appended, Head, StoreError};

/// Rows prepared per chunk (one multi-row INSERT statement on SQLite).
pub(crate) const INSERT_ROWS_PER_STATEMENT: usize = 32;

/// Checks a batch against the limits before touching the database.
pub(crate) fn validate(batch: &AppendBatch) -> Result<(), StoreError> {
    if batch.events.is_empty() {
        return Err(StoreError::InvalidBatch(
            "an append needs at least one event".into(),
        ));
    }
    if batch.events.len() > BATCH_EVENTS_MAX {
        return Err(StoreError::Limit {
            what: "the batch length".into(),
            name: "BATCH_EVENTS_MAX",
            actual: batch.events.len(),
            max: BATCH_EVENTS_MAX,
        });
    }
    let mut ids = HashSet::with_capacity(batch.events.len());
    for ev in &batch.events {
        if !ids.insert(ev.id) {
            return Err(StoreError::InvalidBatch(format!(
                "event id {} appears twice",
                ev.id
            )));
        }
        if ev.stream.is_empty() || ev.stream.len() > STREAM_NAME_BYTES_MAX {
            return Err(StoreError::Limit {
                what: format!(
                    "the stream name {:?}",
                    ev.stream.chars().take(40).collect::<String>()
                ),
                name: "STREAM_NAME_BYTES_MAX",
                actual: ev.stream.len(),
                max: STREAM_NAME_BYTES_MAX,
            });
        }
        if ev.stream.chars().any(char::is_control) {
            return Err(StoreError::InvalidBatch(format!(
                "stream name {:?} contains control characters",
                ev.stream
            )));
        }
        if let Some(t) = &ev.trace_id {
            if t.len() > ENVELOPE_TEXT_BYTES_MAX {
                return Err(StoreError::Limit {
                    what: "the trace id".into(),
                    name: "ENVELOPE_TEXT_BYTES_MAX",
                    actual: t.len(),
                    max: ENVELOPE_TEXT_BYTES_MAX,
                });
            }
        }
    }
    for stream in batch.expected.keys() {
        if !batch.events.iter().any(|e| &e.stream == stream) {
            return Err(StoreError::InvalidBatch(format!(
                "an expected version is given for stream {stream:?}, but no event of the batch \
                 is in it"
            )));
        }
    }
    Ok(())
}

/// Encodes one payload, enforcing `EVENT_BYTES_MAX`.
pub(crate) fn encode_payload(ev: &NewEvent) -> Result<Vec<u8>, StoreError> {
    let payload = ev.payload.encode();
    if payload.len() > EVENT_BYTES_MAX {
        return Err(StoreError::Limit {
            what: format!("the payload of event {} ({})", ev.id, ev.payload.kind()),
            name: "EVENT_BYTES_MAX",
            actual: payload.len(),
            max: EVENT_BYTES_MAX,
        });
    }
    Ok(payload)
}

/// An event with everything the store assigns: ready to insert.
pub(crate) struct PreparedRow<'a> {
    pub ev: &'a NewEvent,
    pub payload: Vec<u8>,
    pub seq: u64,
    pub stream_version: u64,
    pub hash: Hash32,
}

impl PreparedRow<'_> {
    pub fn envelope(&self, recorded_at_us: i64) -> Envelope<'_> {
        Envelope {
            seq: self.seq,
            id: self.ev.id,
            stream: &self.ev.stream,
            stream_version: self.stream_version,
            kind: self.ev.payload.kind().as_str(),
            schema_version: self.ev.payload.schema_version(),
            recorded_at_us,
            run_id: self.ev.run_id,
            trace_id: self.ev.trace_id.as_deref(),
            causation_id: self.ev.causation_id,
            payload: &self.payload,
        }
    }
}

/// Batches at least this long encode and hash on a second thread while the first inserts:
/// below it, starting a thread costs more than it saves.
pub(crate) const APPEND_PIPELINE_MIN_EVENTS: usize = 256;

/// Encodes, numbers and hash-chains `events` in order, handing them to `emit` in chunks of
/// `INSERT_ROWS_PER_STATEMENT`. Stops early (returning `Ok`) when `emit` returns false.
pub(crate) fn prepare_rows<'a>(
    events: &'a [NewEvent],
    mut seq: u64,
    mut prev: Hash32,
    mut versions: BTreeMap<&'a str, u64>,
    recorded_at_us: i64,
    mut emit: impl FnMut(Vec<PreparedRow<'a>>) -> bool,
) -> Result<(), StoreError> {
    for chunk in events.chunks(INSERT_ROWS_PER_STATEMENT) {
        let mut rows = Vec::with_capacity(chunk.len());
        for ev in chunk {
            seq += 1;
            let version = versions.entry(ev.stream.as_str()).or_insert(0);
            *version += 1;
            let mut row = PreparedRow {
                ev,
                payload: encode_payload(ev)?,
                seq,
                stream_version: *version,
                hash: Hash32::ZERO,
            };
            row.hash = row.envelope(recorded_at_us).chained_hash(&prev);
            prev = row.hash;
            rows.push(row);
        }
        if !emit(rows) {
            break;
        }
    }
    Ok(())
}

/// Explains why an append met ids already in the log: an idempotent retry (every event
/// present with the same content: its original seqs), a reused id (an id with other
/// content), or a batch only partly present. `lookup` reads the stored event of an id.
pub(crate) fn classify_duplicates(
    events: &[NewEvent],
    mut lookup: impl FnMut(Uuid) -> Result<Option<StoredEvent>, StoreError>,
) -> Result<Appended, StoreError> {
    let mut seqs = Vec::with_capacity(events.len());
    let mut missing = None;
    for ev in events {
        match lookup(ev.id)? {
            None => missing = Some(ev.id),
            Some(stored) => {
                let payload = ev.payload.encode();
                let wanted = crate::envelope::content_hash(
                    &ev.stream,
                    ev.payload.kind().as_str(),
                    ev.payload.schema_version(),
                    ev.run_id,
                    ev.trace_id.as_deref(),
                    ev.causation_id,
                    &payload,
                );
                if stored.content_hash() != wanted {
                    return Err(StoreError::IdReused {
                        id: ev.id,
                        seq: stored.seq,
                    });
                }
                seqs.push(stored.seq);
            }
        }
    }
    if missing.is_some() {
        let example = events
            .iter()
            .map(|e| e.id)
            .find(|id| Some(*id) != missing)
            .unwrap_or_default();
        return Err(StoreError::PartiallyPresent {
            present: seqs.len(),
            total: events.len(),
            example,
        });
    }
    Ok(Appended {
        seqs,
        already_present: true,
    })
}

/// Compares the log's last event with the head the last append recorded; the first way
/// they disagree is a [`StoreError::ChainBroken`] at the seq where it shows.
pub(crate) fn check_head_against_recorded(
    head: Option<Head>,
    recorded: Option<Head>,
) -> Result<(), StoreError> {
    let broken = |seq, detail: String| Err(StoreError::ChainBroken { seq, detail });
    match (head, recorded) {
        (None, Some(r)) => broken(
            1,
            format!(
                "missing: the log is empty, but the last append recorded head seq {} \
                 (every event was removed)",
                r.seq
            ),
        ),
        (Some(h), Some(r)) if h.seq > r.seq => broken(
            r.seq + 1,
            format!(
                "added outside trustfold: the last append recorded head seq {}, but the \
                 log goes on to seq {}",
                r.seq, h.seq
            ),
        ),
        (Some(h), Some(r)) if h.seq < r.seq => broken(
            h.seq + 1,
            format!(
                "missing: the log ends at seq {}, but the last append recorded head seq \
                 {} (events at the end were removed)",
                h.seq, r.seq
            ),
        ),
        (Some(h), Some(r)) if h.hash != r.hash => broken(
            h.seq,
            "replaced: the last event is not the one its append recorded".into(),
        ),
        _ => Ok(()),
    }
}
