//! Integrity check of a whole log: sequence contiguity, the hash chain, the recorded head,
//! decodability, every blob an event names, and any anchors the user kept.
//!
//! The chain proves that nothing before the last event was altered, removed or reordered,
//! and the recorded head that nothing at the end was. Both live in the log's own file, so
//! someone who removes the last events and rewrites the recorded head leaves a log that
//! agrees with itself: only an anchor kept elsewhere (`trustfold head`, then
//! `verify --expect SEQ:HASH`) catches that.

use std::collections::HashMap;
use std::fmt;

use crate::blob::{BlobError, Blobs};
use crate::catalogue::EventPayload;
use crate::hash::{BlobHash, Hash32};
use crate::store::{EventStore, Head, StoreError};

/// Most problems a report lists; the first one is what matters, the rest give scale.
pub const VERIFY_PROBLEMS_MAX: usize = 100;

/// Most seqs listed for one bad blob (a large import names its payload from every
/// candidate extracted from it); the count covers the rest.
pub const VERIFY_SEQS_PER_BLOB_MAX: usize = 10_000;

/// What is wrong with a blob that events name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobFault {
    /// Not in the blob store.
    Missing,
    /// Its bytes no longer hash to its name: altered.
    Corrupt,
    /// The store could not read it (an I/O error, permissions).
    Unreadable(String),
}

impl BlobFault {
    /// A one-word name, for JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            BlobFault::Missing => "missing",
            BlobFault::Corrupt => "corrupt",
            BlobFault::Unreadable(_) => "unreadable",
        }
    }
}

impl fmt::Display for BlobFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobFault::Missing => f.write_str("is missing from the blob store"),
            BlobFault::Corrupt => f.write_str("is altered: its bytes no longer hash to its name"),
            BlobFault::Unreadable(d) => write!(f, "cannot be read ({d})"),
        }
    }
}

/// One broken invariant, located at the seq where it shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// An event is missing or out of place: seq `found` came where `expected` should be.
    SeqGap { expected: u64, found: u64 },
    /// The event's stored hash is not blake3(previous hash || its canonical bytes):
    /// its content, or an earlier event's, was altered, removed or reordered.
    HashMismatch { seq: u64 },
    /// The log ends before the head recorded by the last append (events at the end were
    /// removed), or ends at it with another event (the last event was replaced).
    HeadMismatch {
        recorded: Head,
        actual: Option<Head>,
    },
    /// An event after the head recorded by the last append: no append wrote it.
    Unrecorded {
        seq: u64,
        recorded_seq: u64,
        kind: String,
        stream: String,
        /// Whether its hash chains to the event before it (a careful forgery).
        chains: bool,
    },
    /// The payload cannot be decoded by this build.
    Undecodable { seq: u64, detail: String },
    /// A blob that is missing, altered or unreadable, with the events that name it
    /// (`seqs`, ascending, at most [`VERIFY_SEQS_PER_BLOB_MAX`]; `n_events` counts all).
    /// A blob no event names has no seqs.
    Blob {
        hash: BlobHash,
        fault: BlobFault,
        seqs: Vec<u64>,
        n_events: u64,
    },
    /// An anchor the user kept (`--expect SEQ:HASH`) is not in the log as it was.
    AnchorMismatch {
        anchor: Head,
        /// The hash the log has at that seq, if it still reaches it.
        found: Option<Hash32>,
        /// The log's last seq (0 when empty).
        log_end: u64,
    },
}

impl Problem {
    /// A short name of the kind of problem, for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::SeqGap { .. } => "seq_gap",
            Problem::HashMismatch { .. } => "hash_mismatch",
            Problem::HeadMismatch { .. } => "head_mismatch",
            Problem::Unrecorded { .. } => "added_outside_trustfold",
            Problem::Undecodable { .. } => "undecodable",
            Problem::Blob { .. } => "blob",
            Problem::AnchorMismatch { .. } => "anchor_mismatch",
        }
    }

    /// The seq the problem is found at, if it has one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Problem::SeqGap { expected, .. } => Some(*expected),
            Problem::HashMismatch { seq }
            | Problem::Undecodable { seq, .. }
            | Problem::Unrecorded { seq, .. } => Some(*seq),
            Problem::HeadMismatch { recorded, actual } => match actual {
                Some(a) if a.seq >= recorded.seq => Some(recorded.seq),
                Some(a) => Some(a.seq + 1),
                None => Some(1),
            },
            Problem::Blob { seqs, .. } => seqs.first().copied(),
            Problem::AnchorMismatch {
                anchor,
                found,
                log_end,
            } => Some(if found.is_some() {
                anchor.seq
            } else {
                (log_end + 1).min(anchor.seq)
            }),
        }
    }

    /// The events the problem concerns, when it names more than the one at [`Problem::seq`].
    pub fn seqs(&self) -> Vec<u64> {
        match self {
            Problem::Blob { seqs, .. } => seqs.clone(),
            other => other.seq().into_iter().collect(),
        }
    }
}

/// Lists seqs for people: the first few and how many more.
fn seq_list(seqs: &[u64], n_events: u64) -> String {
    const SHOWN: usize = 8;
    let mut text = seqs
        .iter()
        .take(SHOWN)
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let rest = n_events.saturating_sub(seqs.len().min(SHOWN) as u64);
    if rest > 0 {
        text.push_str(&format!(" and {rest} more"));
        if let Some(last) = seqs.last() {
            text.push_str(&format!(" (up to seq {last})"));
        }
    }
    text
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
                Some(a) if a.seq == recorded.seq => write!(
                    f,
                    "seq {}: replaced — the last event's hash is {}, but the last append \
                     recorded {}",
                    a.seq, a.hash, recorded.hash
                ),
                Some(a) => write!(
                    f,
                    "seq {}: missing — the log ends at seq {} but the last append recorded \
                     head seq {} (events at the end were removed)",
                    a.seq + 1,
                    a.seq,
                    recorded.seq
                ),
                None => write!(
                    f,
                    "seq 1: missing — the log is empty but the last append recorded head seq {} \
                     (every event was removed)",
                    recorded.seq
                ),
            },
            Problem::Unrecorded {
                seq,
                recorded_seq,
                kind,
                stream,
                chains,
            } => write!(
                f,
                "seq {seq}: added outside trustfold — a {kind} event in stream {stream:?} after \
                 the head the last append recorded (seq {recorded_seq}), so no append wrote \
                 it; {}",
                if *chains {
                    "its hash chains to the event before it (a careful forgery)"
                } else {
                    "its hash does not chain to the event before it"
                }
            ),
            Problem::Undecodable { seq, detail } => write!(f, "seq {seq}: undecodable: {detail}"),
            Problem::Blob {
                hash,
                fault,
                seqs,
                n_events,
            } => match seqs.first() {
                Some(first) => write!(
                    f,
                    "seq {first}: payload blob {hash} {fault}; {} naming it: seq {}",
                    if *n_events == 1 {
                        "1 event".to_string()
                    } else {
                        format!("{n_events} events")
                    },
                    seq_list(seqs, *n_events)
                ),
                None => write!(f, "blob {hash} (named by no event) {fault}"),
            },
            Problem::AnchorMismatch {
                anchor,
                found,
                log_end,
            } => match found {
                Some(found) => write!(
                    f,
                    "seq {}: not the anchored event — its hash is {found}, the anchor says {} \
                     (the log was rewritten up to here)",
                    anchor.seq, anchor.hash
                ),
                None => write!(
                    f,
                    "seq {}: the anchored event (seq {}, hash {}) is not in the log, which ends \
                     at seq {log_end} (events at the end were removed, and the recorded head \
                     with them)",
                    (log_end + 1).min(anchor.seq),
                    anchor.seq,
                    anchor.hash
                ),
            },
        }
    }
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub n_events: u64,
    pub head: Option<Head>,
    pub n_blobs_checked: u64,
    /// Anchors checked and found as expected.
    pub n_anchors_checked: u64,
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

    /// Adds a problem; returns its index, or `None` past `VERIFY_PROBLEMS_MAX`.
    fn push(&mut self, p: Problem) -> Option<usize> {
        if self.problems.len() < VERIFY_PROBLEMS_MAX {
            self.problems.push(p);
            Some(self.problems.len() - 1)
        } else {
            self.truncated = true;
            None
        }
    }
}

/// What [`verify_with`] checks beyond the log itself.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Events the user recorded elsewhere (`trustfold head`): each must still be in the
    /// log at its seq with its hash.
    pub expect: Vec<Head>,
    /// Why the blob store could not be opened, when the caller passes no store because of
    /// it: the events' blobs are then reported unreadable (not missing) with that reason.
    pub blob_store_error: Option<String>,
}

/// [`verify_with`] and no anchors.
pub fn verify(
    store: &dyn EventStore,
    blobs: Option<&dyn Blobs>,
) -> Result<VerifyReport, StoreError> {
    verify_with(store, blobs, &VerifyOptions::default())
}

/// Walks the whole log in constant memory (plus one entry per distinct blob) and checks
/// every invariant. With `blobs = None` the events' blob references are reported missing.
///
/// A hash mismatch is reported at the event whose stored hash does not match, and the walk
/// continues from the stored hash, so a single altered event is named alone. Every blob is
/// read once: the store's own check lists the bad ones, and each event naming one is added
/// to that blob's problem.
pub fn verify_with(
    store: &dyn EventStore,
    blobs: Option<&dyn Blobs>,
    options: &VerifyOptions,
) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let mut bad_blobs: HashMap<BlobHash, BlobFault> = HashMap::new();
    if let Some(blobs) = blobs {
        let listed = blobs
            .verify_all()
            .map_err(|e| StoreError::Integrity(format!("listing the blob store: {e}")))?;
        for bad in listed {
            match bad {
                BlobError::Corrupt { hash, .. } => {
                    bad_blobs.insert(hash, BlobFault::Corrupt);
                }
                BlobError::Unreadable { hash, detail } => {
                    bad_blobs.insert(hash, BlobFault::Unreadable(detail));
                }
                // A stray file is not a payload any event can name; the store ignores it.
                _ => {}
            }
        }
    }
    let mut anchors: HashMap<u64, Hash32> =
        options.expect.iter().map(|h| (h.seq, h.hash)).collect();
    let mut prev = Hash32::ZERO;
    let mut expected_seq = 1u64;
    // blob -> index of its problem (None: fine, or its problem did not fit the report).
    let mut blob_state: HashMap<BlobHash, Option<usize>> = HashMap::new();
    for ev in store.read_raw_from(1) {
        let ev = ev?;
        report.n_events += 1;
        if ev.seq != expected_seq {
            report.push(Problem::SeqGap {
                expected: expected_seq,
                found: ev.seq,
            });
        }
        let chains = ev.expected_hash(&prev) == ev.hash;
        if !chains {
            report.push(Problem::HashMismatch { seq: ev.seq });
        }
        if let Some(anchor) = anchors.remove(&ev.seq) {
            if anchor == ev.hash {
                report.n_anchors_checked += 1;
            } else {
                report.push(Problem::AnchorMismatch {
                    anchor: Head {
                        seq: ev.seq,
                        hash: anchor,
                    },
                    found: Some(ev.hash),
                    log_end: 0,
                });
            }
        }
        match EventPayload::decode(&ev.kind, ev.schema_version, &ev.payload) {
            Err(e) => {
                report.push(Problem::Undecodable {
                    seq: ev.seq,
                    detail: e.to_string(),
                });
            }
            Ok(payload) => {
                for hash in payload.blob_refs() {
                    let state = match blob_state.get(&hash) {
                        Some(state) => *state,
                        None => {
                            report.n_blobs_checked += 1;
                            let fault = match (bad_blobs.get(&hash), blobs) {
                                (Some(fault), _) => Some(fault.clone()),
                                (None, None) => Some(match &options.blob_store_error {
                                    Some(why) => BlobFault::Unreadable(format!(
                                        "the blob store cannot be opened: {why}"
                                    )),
                                    None => BlobFault::Missing,
                                }),
                                (None, Some(b)) => match b.contains(&hash) {
                                    Ok(true) => None,
                                    Ok(false) => Some(BlobFault::Missing),
                                    Err(e) => Some(BlobFault::Unreadable(e.to_string())),
                                },
                            };
                            let state = fault.and_then(|fault| {
                                report.push(Problem::Blob {
                                    hash,
                                    fault,
                                    seqs: Vec::new(),
                                    n_events: 0,
                                })
                            });
                            blob_state.insert(hash, state);
                            state
                        }
                    };
                    if let Some(i) = state {
                        if let Problem::Blob { seqs, n_events, .. } = &mut report.problems[i] {
                            *n_events += 1;
                            if seqs.len() < VERIFY_SEQS_PER_BLOB_MAX {
                                seqs.push(ev.seq);
                            }
                        }
                    }
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
    let log_end = report.head.map_or(0, |h| h.seq);
    for (seq, hash) in anchors {
        report.push(Problem::AnchorMismatch {
            anchor: Head { seq, hash },
            found: None,
            log_end,
        });
    }
    // Read after the walk: a concurrent append can only move it past what was walked.
    if let Some(recorded) = store.recorded_head()? {
        match report.head {
            Some(actual) if actual.seq > recorded.seq => {
                // Rows past the recorded head: read them again (at most as many as a
                // report lists) and name each one; a hash mismatch among them is part of
                // that explanation.
                report
                    .problems
                    .retain(|p| !matches!(p, Problem::HashMismatch { seq } if *seq > recorded.seq));
                let mut prev = Hash32::ZERO;
                for ev in store
                    .read_raw_from(recorded.seq.max(1))
                    .take(VERIFY_PROBLEMS_MAX + 1)
                {
                    let ev = ev?;
                    if ev.seq > actual.seq {
                        break;
                    }
                    if ev.seq > recorded.seq {
                        report.push(Problem::Unrecorded {
                            seq: ev.seq,
                            recorded_seq: recorded.seq,
                            chains: ev.expected_hash(&prev) == ev.hash,
                            kind: ev.kind.clone(),
                            stream: ev.stream.clone(),
                        });
                    }
                    prev = ev.hash;
                }
            }
            actual if actual != Some(recorded) => {
                report.push(Problem::HeadMismatch { recorded, actual });
            }
            _ => {}
        }
    }
    {
        // Bad blobs no event names are reported too (without a seq).
        let mut unnamed: Vec<(BlobHash, BlobFault)> = bad_blobs
            .into_iter()
            .filter(|(hash, _)| !blob_state.contains_key(hash))
            .collect();
        unnamed.sort_by_key(|(hash, _)| *hash);
        for (hash, fault) in unnamed {
            report.push(Problem::Blob {
                hash,
                fault,
                seqs: Vec::new(),
                n_events: 0,
            });
        }
    }
    report.problems.sort_by_key(|p| p.seq().unwrap_or(u64::MAX));
    Ok(report)
}
