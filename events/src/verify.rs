//! Integrity check of a whole log: sequence contiguity, the hash chain, the recorded head,
//! decodability, and every blob an event names.

use std::collections::HashMap;
use std::fmt;

use crate::blob::{BlobError, BlobStore};
use crate::catalogue::EventPayload;
use crate::hash::{BlobHash, Hash32};
use crate::store::{EventStore, Head, StoreError};

/// Most problems a report lists; the first one is what matters, the rest give scale.
pub const VERIFY_PROBLEMS_MAX: usize = 100;

/// One broken invariant, located at the seq where it shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// An event is missing or out of place: seq `found` came where `expected` should be.
    SeqGap { expected: u64, found: u64 },
    /// The event's stored hash is not blake3(previous hash || its canonical bytes):
    /// its content, or an earlier event's, was altered, removed or reordered.
    HashMismatch { seq: u64 },
    /// The log ends before (or after) the head recorded by the last append.
    HeadMismatch {
        recorded: Head,
        actual: Option<Head>,
    },
    /// The payload cannot be decoded by this build.
    Undecodable { seq: u64, detail: String },
    /// An event names a blob that is not in the blob store.
    BlobMissing { seq: u64, hash: BlobHash },
    /// A blob's bytes no longer hash to its key (`seq` = first event naming it, if any).
    BlobCorrupt { seq: Option<u64>, hash: BlobHash },
}

impl Problem {
    /// The seq the problem is found at, if it has one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Problem::SeqGap { expected, .. } => Some(*expected),
            Problem::HashMismatch { seq }
            | Problem::Undecodable { seq, .. }
            | Problem::BlobMissing { seq, .. } => Some(*seq),
            Problem::HeadMismatch { recorded, actual } => {
                Some(actual.map_or(1, |a| a.seq + 1).min(recorded.seq))
            }
            Problem::BlobCorrupt { seq, .. } => *seq,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::SeqGap { expected, found } => write!(
                f,
                "seq {expected}: missing — the next event found is seq {found} \
                 (events were removed or reordered)"
            ),
            Problem::HashMismatch { seq } => write!(
                f,
                "seq {seq}: hash mismatch — the event was altered, or events were removed \
                 or reordered before it"
            ),
            Problem::HeadMismatch { recorded, actual } => match actual {
                Some(a) => write!(
                    f,
                    "seq {}: the log ends at seq {} but the last append recorded head seq {} \
                     (events at the end were removed)",
                    a.seq + 1,
                    a.seq,
                    recorded.seq
                ),
                None => write!(
                    f,
                    "seq 1: the log is empty but the last append recorded head seq {}",
                    recorded.seq
                ),
            },
            Problem::Undecodable { seq, detail } => write!(f, "seq {seq}: undecodable: {detail}"),
            Problem::BlobMissing { seq, hash } => {
                write!(
                    f,
                    "seq {seq}: names blob {hash}, which is missing from the blob store"
                )
            }
            Problem::BlobCorrupt {
                seq: Some(seq),
                hash,
            } => {
                write!(f, "seq {seq}: names blob {hash}, whose bytes are corrupt")
            }
            Problem::BlobCorrupt { seq: None, hash } => {
                write!(f, "blob {hash} (named by no event) has corrupt bytes")
            }
        }
    }
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub n_events: u64,
    pub head: Option<Head>,
    pub n_blobs_checked: u64,
    /// Problems in log order; empty means intact.
    pub problems: Vec<Problem>,
    /// True when more than `VERIFY_PROBLEMS_MAX` problems were found.
    pub truncated: bool,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problem with the lowest seq.
    pub fn first_problem(&self) -> Option<&Problem> {
        self.problems
            .iter()
            .min_by_key(|p| p.seq().unwrap_or(u64::MAX))
    }

    fn push(&mut self, p: Problem) {
        if self.problems.len() < VERIFY_PROBLEMS_MAX {
            self.problems.push(p);
        } else {
            self.truncated = true;
        }
    }
}

/// Walks the whole log in constant memory (plus one entry per distinct blob) and checks
/// every invariant. With `blobs = None` the events' blob references are reported missing.
///
/// A hash mismatch is reported at the event whose stored hash does not match, and the walk
/// continues from the stored hash, so a single altered event is named alone.
pub fn verify(
    store: &dyn EventStore,
    blobs: Option<&BlobStore>,
) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let mut prev = Hash32::ZERO;
    let mut expected_seq = 1u64;
    let mut blob_state: HashMap<BlobHash, bool> = HashMap::new();
    for ev in store.read_raw_from(1) {
        let ev = ev?;
        report.n_events += 1;
        if ev.seq != expected_seq {
            report.push(Problem::SeqGap {
                expected: expected_seq,
                found: ev.seq,
            });
        }
        if ev.expected_hash(&prev) != ev.hash {
            report.push(Problem::HashMismatch { seq: ev.seq });
        }
        match EventPayload::decode(&ev.kind, ev.schema_version, &ev.payload) {
            Err(e) => report.push(Problem::Undecodable {
                seq: ev.seq,
                detail: e.to_string(),
            }),
            Ok(payload) => {
                for hash in payload.blob_refs() {
                    if blob_state.contains_key(&hash) {
                        continue;
                    }
                    let ok = match blobs.map(|b| b.get(&hash)) {
                        Some(Ok(_)) => true,
                        None | Some(Err(BlobError::Missing(_))) => {
                            report.push(Problem::BlobMissing { seq: ev.seq, hash });
                            false
                        }
                        Some(Err(BlobError::Corrupt { .. })) => {
                            report.push(Problem::BlobCorrupt {
                                seq: Some(ev.seq),
                                hash,
                            });
                            false
                        }
                        Some(Err(e)) => {
                            return Err(StoreError::Integrity(format!(
                                "reading blob {hash} named at seq {}: {e}",
                                ev.seq
                            )))
                        }
                    };
                    report.n_blobs_checked += 1;
                    blob_state.insert(hash, ok);
                }
            }
        }
        prev = ev.hash;
        expected_seq = ev.seq + 1;
        report.head = Some(Head {
            seq: ev.seq,
            hash: ev.hash,
        });
    }
    if let Some(recorded) = store.recorded_head()? {
        if report.head != Some(recorded) {
            report.push(Problem::HeadMismatch {
                recorded,
                actual: report.head,
            });
        }
    }
    if let Some(blobs) = blobs {
        // Blobs no event names yet (or whose check above already ran) are checked too.
        for bad in blobs
            .verify_all()
            .map_err(|e| StoreError::Integrity(e.to_string()))?
        {
            if let BlobError::Corrupt { hash, .. } = bad {
                if !blob_state.contains_key(&hash) {
                    report.push(Problem::BlobCorrupt { seq: None, hash });
                }
            }
        }
    }
    report.problems.sort_by_key(|p| p.seq().unwrap_or(u64::MAX));
    Ok(report)
}
