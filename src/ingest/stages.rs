//! The stages after fetching: extraction, acceptance and identity resolution. Each stage's
//! facts are appended as one atomic batch, so a run interrupted between stages leaves
//! whole stages behind, never half of one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::{Context, Result};
use tracing::debug;
use trustfold_events::{
    derived_event_id, AppendBatch, BlobHash, CandidateAccepted, CandidateExtracted,
    CandidateFields, CandidateRejected, EventFilter, EventKind, EventPayload, EventStore,
    ExpectedVersion, MergeDecided, MergeOutcome, NewEvent, RejectReason, ReviewReason,
    ReviewRequested, StoreError,
};
use trustfold_events::{record_hash, CandidatesSeenAgain};
use trustfold_projections::state::Candidate;
use trustfold_projections::ProjectionDb;
use uuid::Uuid;

use crate::extract::{Extracted, Extraction};
use crate::resolve::{
    candidate_id, entity_id_for, CandidateRef, IdentityIndex, IdentityStore, MatchConfig, Outcome,
    MATCHER_VERSION,
};
use trustfold_normalize::text::name_key;

/// Distance under which two records of one source with the same name are one site
/// (the sportscotland register repeats a site once per facility, at one point).
pub const SAME_SITE_M: f64 = 25.0;

/// How often resolution is retried when another writer created an entity first.
pub const RESOLVE_ATTEMPTS_MAX: u32 = 3;

/// One payload's extraction, ready to be recorded.
pub struct ExtractedPayload {
    pub source: String,
    /// The `ConnectorResponded` event the records came from.
    pub response_event: Uuid,
    pub payload_hash: BlobHash,
    pub extractor: String,
    pub extractor_version: u32,
    pub extraction: Extraction,
}

/// A candidate of this run after extraction.
#[derive(Clone, Debug)]
pub struct RunCandidate {
    pub candidate_id: String,
    pub source: String,
    pub external_id: String,
    pub fields: CandidateFields,
    pub extracted_event: Uuid,
    /// The relevance check's evidence, carried into the acceptance checks.
    pub relevance: Option<String>,
}

/// What the stages did, for the run's figures and report.
#[derive(Clone, Debug, Default)]
pub struct StageFigures {
    pub extracted: u64,
    pub skipped_records: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub entities_created: u64,
    pub entities_updated: u64,
    pub reviews_requested: u64,
    /// Records seen again unchanged (recorded as `CandidatesSeenAgain`).
    pub seen_unchanged: u64,
    /// Candidates rejected as off topic (or, with `--keep-off-topic`, kept though off topic).
    pub off_topic: u64,
    /// Entities this run created or added to: entity id -> (name, sources).
    pub entities: BTreeMap<String, (String, Vec<String>)>,
}

/// The run's envelope fields every stage event carries.
pub struct RunIds<'a> {
    pub run_id: Uuid,
    pub trace_id: &'a str,
}

fn event(
    ids: &RunIds<'_>,
    stream: String,
    payload: impl Into<EventPayload>,
    id_parts: &[&str],
    cause: Uuid,
) -> NewEvent {
    NewEvent::new(stream, payload)
        .with_id(derived_event_id(id_parts))
        .in_run(ids.run_id, ids.trace_id)
        .caused_by(cause)
}

/// Appends `events` in batches of at most `BATCH_EVENTS_MAX`, each batch carrying the
/// expectations of the streams it touches. A run's decisions fit one batch unless it found
/// more than `BATCH_EVENTS_MAX` records; past that, each batch is atomic on its own.
///
/// Events whose (derived) ids are already in the log are left out, with their streams'
/// expectations: a resumed run re-derives the facts its first attempt recorded, and
/// appends only the ones that are missing.
pub(crate) fn append_with_expectations(
    store: &dyn EventStore,
    events: Vec<NewEvent>,
    mut expected: BTreeMap<String, ExpectedVersion>,
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let present = store.existing_ids(&ids)?;
    let mut events: Vec<NewEvent> = if present.is_empty() {
        events
    } else {
        // A stream with a fact already recorded no longer is where the expectation was
        // taken (e.g. the entity it founds exists now).
        for e in events.iter().filter(|e| present.contains(&e.id)) {
            expected.remove(&e.stream);
        }
        events
            .into_iter()
            .filter(|e| !present.contains(&e.id))
            .collect()
    };
    while !events.is_empty() {
        let rest = events.split_off(events.len().min(trustfold_events::limits::BATCH_EVENTS_MAX));
        let mut batch = AppendBatch {
            events,
            expected: BTreeMap::new(),
        };
        for ev in &batch.events {
            if let Some(e) = expected.remove(&ev.stream) {
                batch.expected.insert(ev.stream.clone(), e);
            }
        }
        store.append(batch)?;
        events = rest;
    }
    Ok(())
}

/// Most earlier payloads one `CandidatesSeenAgain` may refer to; past it the records are
/// recorded one by one (the event would say little that a list of ids would not).
pub const SEEN_AGAIN_PAYLOADS_MAX: usize = 64;

/// Most absent candidates one `CandidatesSeenAgain` may name (its size stays far below
/// `EVENT_BYTES_MAX`); past it the records are recorded one by one.
pub const SEEN_AGAIN_ABSENT_MAX: usize = 10_000;

/// The records of one payload split into the ones to record in full and the ones seen
/// again unchanged (as the projections know them, with their entity).
struct Split<'r> {
    fresh: Vec<(usize, &'r Extracted)>,
    unchanged: Vec<(&'r Extracted, Option<String>)>,
    earlier: Vec<BlobHash>,
    absent: Vec<String>,
}

/// Which records of a payload are unchanged since their latest observation and already
/// placed (in an entity, or following a record of their site): those are recorded as one
/// `CandidatesSeenAgain`. Everything else (new or changed records, records without a
/// decided identity, a payload repeating a record) is recorded in full, as is the whole
/// payload when the compact form would not be compact.
fn split_unchanged<'r>(
    source: &str,
    records: &'r [Extracted],
    known: Option<&ProjectionDb>,
    on_topic: &dyn Fn(&CandidateFields) -> bool,
) -> Result<Split<'r>> {
    let all_fresh = || Split {
        fresh: records.iter().enumerate().collect(),
        unchanged: Vec::new(),
        earlier: Vec::new(),
        absent: Vec::new(),
    };
    let Some(db) = known else {
        return Ok(all_fresh());
    };
    let ids: Vec<String> = records
        .iter()
        .map(|r| candidate_id(source, &r.external_id))
        .collect();
    let in_file: HashSet<&str> = ids.iter().map(String::as_str).collect();
    if in_file.len() != ids.len() {
        // A record repeated within the payload: the full path reports it as such.
        return Ok(all_fresh());
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let latest: HashMap<String, Candidate> = db
        .candidates(&refs)
        .context("reading the projections' candidates")?
        .into_iter()
        .map(|c| (c.candidate_id.clone(), c))
        .collect();
    let mut split = Split {
        fresh: Vec::new(),
        unchanged: Vec::new(),
        earlier: Vec::new(),
        absent: Vec::new(),
    };
    let mut earlier = BTreeSet::new();
    for (i, (rec, cid)) in records.iter().zip(&ids).enumerate() {
        let hash = record_hash(source, &rec.external_id, &rec.fields);
        match latest.get(cid) {
            Some(c)
                if c.record_hash == Some(hash)
                    && (c.entity_id.is_some() || c.follows.is_some())
                    && c.payload_hash.is_some()
                    && on_topic(&rec.fields) =>
            {
                earlier.extend(c.payload_hash);
                split.unchanged.push((rec, c.entity_id.clone()));
            }
            _ => split.fresh.push((i, rec)),
        }
    }
    if split.unchanged.is_empty() || earlier.len() > SEEN_AGAIN_PAYLOADS_MAX {
        return Ok(all_fresh());
    }
    for h in &earlier {
        for cid in db
            .candidates_of_payload(h)
            .context("reading the projections' candidates")?
        {
            if !in_file.contains(cid.as_str()) {
                split.absent.push(cid);
            }
        }
        if split.absent.len() > SEEN_AGAIN_ABSENT_MAX {
            return Ok(all_fresh());
        }
    }
    split.absent.sort_unstable();
    split.earlier = earlier.into_iter().collect();
    Ok(split)
}

/// Stage 1: one `CandidateExtracted` per new or changed record, and one
/// `CandidatesSeenAgain` per payload for the records it repeats unchanged (see
/// [`split_unchanged`]; `known` is the projections, caught up, or `None` to record every
/// record in full; `on_topic` says which records may be seen again compactly, the others
/// being recorded in full for the relevance stage to reject). Returns the candidates
/// recorded in full: only they go on to acceptance and identity (the others' are decided
/// already).
pub fn record_extractions(
    store: &dyn EventStore,
    ids: &RunIds<'_>,
    payloads: Vec<ExtractedPayload>,
    known: Option<&ProjectionDb>,
    on_topic: &dyn Fn(&CandidateFields) -> bool,
    figures: &mut StageFigures,
) -> Result<Vec<RunCandidate>> {
    let run = ids.run_id.to_string();
    let mut events = Vec::new();
    let mut candidates = Vec::new();
    for p in payloads {
        figures.skipped_records += p.extraction.skipped.len() as u64;
        let response = p.response_event.to_string();
        let split = split_unchanged(&p.source, &p.extraction.records, known, on_topic)?;
        // The skipped records of a payload are recorded once, next to the payload they
        // came from: on its `CandidatesSeenAgain`, else on its first recorded candidate.
        let mut skipped = Some(p.extraction.skipped.clone());
        let seen = (!split.unchanged.is_empty()).then(|| CandidatesSeenAgain {
            source: p.source.clone(),
            payload_hash: p.payload_hash,
            extractor: p.extractor.clone(),
            extractor_version: p.extractor_version,
            earlier_payloads: split.earlier.clone(),
            absent: split.absent.clone(),
            n_records: split.unchanged.len() as u64,
            skipped_records: skipped.take().unwrap_or_default(),
        });
        figures.extracted += split.fresh.len() as u64;
        for (idx, rec) in split.fresh {
            let cid = candidate_id(&p.source, &rec.external_id);
            let idx_s = idx.to_string();
            let ev = event(
                ids,
                format!("candidate/{cid}"),
                CandidateExtracted {
                    candidate_id: cid.clone(),
                    source: p.source.clone(),
                    external_id: rec.external_id.clone(),
                    fields: rec.fields.clone(),
                    extractor: p.extractor.clone(),
                    extractor_version: p.extractor_version,
                    payload_hash: p.payload_hash,
                    skipped_records: skipped.take().unwrap_or_default(),
                },
                &["CandidateExtracted", &run, &response, &idx_s],
                p.response_event,
            );
            candidates.push(RunCandidate {
                candidate_id: cid,
                source: p.source.clone(),
                external_id: rec.external_id.clone(),
                fields: rec.fields.clone(),
                extracted_event: ev.id,
                relevance: None,
            });
            events.push(ev);
        }
        if let Some(seen) = seen {
            figures.seen_unchanged += seen.n_records;
            for (rec, entity) in &split.unchanged {
                if let Some(eid) = entity {
                    note_entity(figures, eid, rec.fields.name.as_deref(), &p.source);
                }
            }
            // After this payload's extractions, in the same batch: a changed record's new
            // observation then no longer counts as one from an earlier payload.
            events.push(event(
                ids,
                format!("run/{run}/seen"),
                seen,
                &["CandidatesSeenAgain", &run, &response],
                p.response_event,
            ));
        }
    }
    append_with_expectations(store, events, BTreeMap::new())
        .context("recording the extracted candidates")?;
    Ok(candidates)
}

// ---------------------------------------------------------------------------------------
// Relevance (issue 15): between extraction and identity. The judging is
// `crate::relevance::judge`; this only records its verdicts.
// ---------------------------------------------------------------------------------------

/// Stage 1b: judges each candidate against the query (`crate::relevance`). Off-topic ones
/// are recorded as `CandidateRejected { reason: off_topic }` with the evidence and left out
/// of identity (or, with [`Screening::Keep`], kept with the evidence among their checks);
/// on-topic ones carry the evidence into their acceptance checks. Returns the candidates
/// that go on to acceptance and identity.
pub fn screen_relevance(
    store: &dyn EventStore,
    ids: &RunIds<'_>,
    candidates: Vec<RunCandidate>,
    features: &crate::planner::QueryFeatures,
    screening: crate::relevance::Screening,
    figures: &mut StageFigures,
) -> Result<Vec<RunCandidate>> {
    use crate::relevance::Screening;
    if screening == Screening::Off {
        return Ok(candidates);
    }
    let run = ids.run_id.to_string();
    let mut events = Vec::new();
    let mut kept = Vec::with_capacity(candidates.len());
    for mut c in candidates {
        let verdict = crate::relevance::judge(features, &c.fields);
        if verdict.on_topic {
            c.relevance = Some(format!("relevant: {}", verdict.evidence));
            kept.push(c);
            continue;
        }
        figures.off_topic += 1;
        if screening == Screening::Keep {
            c.relevance = Some(format!(
                "kept though {} (--keep-off-topic)",
                verdict.evidence
            ));
            kept.push(c);
            continue;
        }
        figures.rejected += 1;
        events.push(event(
            ids,
            format!("candidate/{}", c.candidate_id),
            CandidateRejected {
                candidate_id: c.candidate_id.clone(),
                reason: RejectReason::OffTopic,
                detail: verdict.evidence,
                duplicate_of: None,
            },
            &["CandidateRejected", &run, &c.candidate_id, "off_topic"],
            c.extracted_event,
        ));
    }
    append_with_expectations(store, events, BTreeMap::new())
        .context("recording the off-topic candidates")?;
    Ok(kept)
}

/// The identity index as the log has it now, by a full scan: every extracted candidate
/// that a `MergeDecided` attached to an entity, with the fields of its latest extraction,
/// and the candidates waiting for a review. Runs read the persisted index instead
/// ([`IdentityStore`]); this scan is the oracle it is checked against (the tests, and
/// [`IDENTITY_CHECK_ENV`]).
pub fn identity_index(
    store: &dyn EventStore,
    config: MatchConfig,
) -> Result<(IdentityIndex, HashMap<String, String>)> {
    identity_index_until(store, config, u64::MAX)
}

/// [`identity_index`] as of seq `until` (events after it are not read).
pub fn identity_index_until(
    store: &dyn EventStore,
    config: MatchConfig,
    until: u64,
) -> Result<(IdentityIndex, HashMap<String, String>)> {
    let mut latest: HashMap<String, (String, String, CandidateFields)> = HashMap::new();
    let mut attached: Vec<(String, String)> = Vec::new();
    let mut in_review: HashMap<String, String> = HashMap::new();
    for kind in [EventKind::CandidateExtracted, EventKind::MergeDecided] {
        let filter = EventFilter {
            kind: Some(kind.as_str().to_string()),
            ..EventFilter::default()
        };
        for ev in store.read_filtered(filter) {
            let ev = ev?;
            if ev.seq > until {
                break;
            }
            match ev.decode()?.payload {
                EventPayload::CandidateExtracted(c) => {
                    latest.insert(c.candidate_id, (c.source, c.external_id, c.fields));
                }
                EventPayload::MergeDecided(m) => match m.decision {
                    MergeOutcome::NewEntity { entity_id }
                    | MergeOutcome::ExistingEntity { entity_id } => {
                        in_review.remove(&m.candidate_id);
                        attached.push((m.candidate_id, entity_id));
                    }
                    MergeOutcome::NeedsReview { review_id, .. } => {
                        in_review.insert(m.candidate_id, review_id);
                    }
                },
                _ => {}
            }
        }
    }
    let mut index = IdentityIndex::new(config);
    for (cid, eid) in attached {
        if let Some((source, external_id, fields)) = latest.get(&cid) {
            let c = CandidateRef {
                candidate_id: &cid,
                source,
                external_id,
                fields,
            };
            index.attach(&c, &eid);
        }
    }
    Ok((index, in_review))
}

/// Set (to anything) to have every run also decide its candidates against the full scan
/// of the log ([`identity_index`]) and fail, appending nothing, if any decision differs
/// from the persisted index's. For tests and diagnosis: the scan costs what the persisted
/// index saves.
pub const IDENTITY_CHECK_ENV: &str = "TRUSTFOLD_IDENTITY_CHECK";

/// Why a candidate cannot be used, if it cannot.
fn invalid_reason(f: &CandidateFields) -> Option<String> {
    if f.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Some("no name".into());
    }
    match (f.lat, f.lon) {
        (Some(lat), Some(lon)) => {
            if !(lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0) {
                return Some(format!("coordinates out of range ({lat}, {lon})"));
            }
            if lat == 0.0 && lon == 0.0 {
                return Some("coordinates (0, 0)".into());
            }
        }
        (None, None) => {}
        _ => return Some("only one of latitude and longitude".into()),
    }
    // A locality alone is enough to be decided: the name's words in the locality find
    // the place's other records (it cannot found one, see `CANNOT_FOUND`).
    let locatable = f.lat.is_some()
        || f.postcode.is_some()
        || !f.address_lines.is_empty()
        || f.locality.as_deref().is_some_and(|l| !l.trim().is_empty())
        || f.phone.is_some()
        || f.website.is_some();
    if !locatable {
        return Some(
            "nothing to place it by (no coordinates, address, locality, postcode, phone or website)"
                .into(),
        );
    }
    None
}

/// Why a candidate that matches nothing founds no entity: it has nothing a later record of
/// the same place could find it by (see `resolve`, "Founding").
pub const CANNOT_FOUND: &str = "matches no known place, and cannot found one: it has no \
     coordinates, postcode or valid phone number, nor a house number and street with a locality, \
     nor a street or site with a locality and a distinctive name word";

/// Whether two records of one source without coordinates, with one postcode, do not give
/// different addresses: a postcode holds a street or two, and "27 Simpson Loan" and "33
/// Simpson Loan" are two shops of one bakery, not one site listed twice.
fn same_street_number(a: &CandidateFields, b: &CandidateFields) -> bool {
    use trustfold_normalize::address::{compare_numbers, street_address, NumbersMatch};
    let street = |f: &CandidateFields| street_address(f.address_lines.iter().map(String::as_str));
    match (street(a), street(b)) {
        (Some(x), Some(y)) => {
            x.street == y.street
                && matches!(
                    compare_numbers(&x.numbers, &y.numbers),
                    NumbersMatch::Same | NumbersMatch::Overlap | NumbersMatch::Unknown
                )
        }
        _ => true,
    }
}

fn distance_m(a: &CandidateFields, b: &CandidateFields) -> Option<f64> {
    match (a.lat, a.lon, b.lat, b.lon) {
        (Some(a1), Some(a2), Some(b1), Some(b2)) => {
            Some(trustfold_normalize::geo::haversine_km((a1, a2), (b1, b2)) * 1000.0)
        }
        _ => None,
    }
}

/// Stage 2 and 3 together: acceptance, then identity for each accepted candidate. A
/// candidate is accepted once its identity is known, so a record that can neither join a
/// place nor found one is rejected rather than accepted and left dangling.
pub fn accept_and_resolve(
    store: &dyn EventStore,
    ids: &RunIds<'_>,
    candidates: &[RunCandidate],
    config: &MatchConfig,
    figures: &mut StageFigures,
) -> Result<()> {
    let identity = IdentityStore::of_log(store);
    let refs: Vec<CandidateRef<'_>> = candidates
        .iter()
        .map(|c| CandidateRef {
            candidate_id: &c.candidate_id,
            source: &c.source,
            external_id: &c.external_id,
            fields: &c.fields,
        })
        .collect();
    let check = std::env::var_os(IDENTITY_CHECK_ENV).is_some();
    // One run resolves at a time, from its catch-up to the append of its decisions: two
    // runs deciding from the same index could each found an entity for one place. Held
    // across the retries below, which stay as a second line of defence (the stream
    // expectations still refuse a decision appended by a writer without the lock).
    let waiting = std::time::Instant::now();
    let _resolving = identity
        .resolve_lock()
        .context("waiting for other runs to record their identity decisions")?;
    debug!(
        waited_ms = waiting.elapsed().as_millis() as u64,
        "resolve lock taken"
    );
    let mut attempt = 1;
    loop {
        // The store must hold this run's extractions (a re-observed candidate is matched
        // on its latest fields), and whatever other runs attached meanwhile.
        let caught_up = identity
            .catch_up(store, config)
            .context("updating the identity index")?;
        debug!(
            events = caught_up.events,
            elapsed_ms = caught_up.elapsed_ms,
            rebuilt = caught_up.rebuilt.as_deref().unwrap_or(""),
            "identity index caught up"
        );
        let working = identity
            .working_index(&refs, config)
            .context("reading the identity index")?;
        debug!(
            blocks = working.blocks_read,
            candidates = working.candidates_loaded,
            elapsed_ms = working.elapsed_ms,
            "working identity index"
        );
        let checkpoint = working.checkpoint_seq;
        let (mut index, in_review) = (working.index, working.in_review);
        let mut local = StageFigures::default();
        let deciding = std::time::Instant::now();
        let (events, expected) =
            decide_all(ids, candidates, &mut index, config, &in_review, &mut local);
        debug!(
            candidates = candidates.len(),
            elapsed_ms = deciding.elapsed().as_millis() as u64,
            "decided"
        );
        drop(index);
        if check {
            let (mut full, full_review) = identity_index_until(store, config.clone(), checkpoint)?;
            let (full_events, full_expected) = decide_all(
                ids,
                candidates,
                &mut full,
                config,
                &full_review,
                &mut StageFigures::default(),
            );
            if let Some(why) = first_difference(&events, &full_events) {
                anyhow::bail!(
                    "{IDENTITY_CHECK_ENV}: the persisted identity index decided differently from a full scan of the log (at seq {checkpoint}): {why}"
                );
            }
            anyhow::ensure!(
                expected == full_expected,
                "{IDENTITY_CHECK_ENV}: the stream expectations differ from a full scan's"
            );
        }
        match append_with_expectations(store, events, expected) {
            Ok(()) => {
                figures.accepted += local.accepted;
                figures.rejected += local.rejected;
                figures.entities_created += local.entities_created;
                figures.entities_updated += local.entities_updated;
                figures.reviews_requested += local.reviews_requested;
                figures.entities.extend(local.entities);
                return Ok(());
            }
            // Another run created one of these entities first: re-read and decide again.
            Err(StoreError::Conflict { .. }) if attempt < RESOLVE_ATTEMPTS_MAX => attempt += 1,
            Err(e) => return Err(e).context("recording acceptance and merge decisions"),
        }
    }
}

/// The first difference between two lists of decided events, described.
fn first_difference(ours: &[NewEvent], oracle: &[NewEvent]) -> Option<String> {
    let differ = ours.iter().zip(oracle).find(|(a, b)| a != b);
    match differ {
        Some((a, b)) => Some(format!(
            "in stream {}: {:?}, where the full scan gives {:?}",
            a.stream, a.payload, b.payload
        )),
        None if ours.len() != oracle.len() => Some(format!(
            "{} events, where the full scan gives {}",
            ours.len(),
            oracle.len()
        )),
        None => None,
    }
}

pub(crate) type Expectations = BTreeMap<String, ExpectedVersion>;

pub(crate) fn decide_all(
    ids: &RunIds<'_>,
    candidates: &[RunCandidate],
    index: &mut IdentityIndex,
    config: &MatchConfig,
    in_review: &HashMap<String, String>,
    figures: &mut StageFigures,
) -> (Vec<NewEvent>, Expectations) {
    let run = ids.run_id.to_string();
    let mut events = Vec::new();
    let mut expected = Expectations::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    // Kept candidates by (source, name key): the same-site check only looks at records of
    // one source with one name, so a large import stays linear.
    let mut kept: HashMap<(&str, String), Vec<&RunCandidate>> = HashMap::new();
    for (i, c) in candidates.iter().enumerate() {
        // A source whose records are each one establishment lists no site twice (the
        // matcher keeps its same-named records apart: `IdentityIndex::decide`).
        let distinct = index.is_distinct_source(&c.source);
        let idx = i.to_string();
        let stream = format!("candidate/{}", c.candidate_id);
        let reject = |reason, detail: String, duplicate_of: Option<String>| {
            event(
                ids,
                stream.clone(),
                CandidateRejected {
                    candidate_id: c.candidate_id.clone(),
                    reason,
                    detail,
                    duplicate_of,
                },
                &["CandidateRejected", &run, &c.candidate_id, &idx],
                c.extracted_event,
            )
        };
        if let Some(why) = invalid_reason(&c.fields) {
            events.push(reject(RejectReason::Invalid, why, None));
            figures.rejected += 1;
            continue;
        }
        if seen.contains_key(c.candidate_id.as_str()) {
            events.push(reject(
                RejectReason::DuplicateInRun,
                "the same record came twice in this run".into(),
                Some(c.candidate_id.clone()),
            ));
            figures.rejected += 1;
            continue;
        }
        let key = (
            c.source.as_str(),
            c.fields.name.as_deref().map(name_key).unwrap_or_default(),
        );
        let same_site = kept.get(&key).filter(|_| !distinct).and_then(|group| {
            group
                .iter()
                .find(|k| match distance_m(&k.fields, &c.fields) {
                    Some(d) => d <= SAME_SITE_M,
                    None => {
                        k.fields.postcode.is_some()
                            && k.fields.postcode == c.fields.postcode
                            && same_street_number(&k.fields, &c.fields)
                    }
                })
        });
        if let Some(first) = same_site {
            events.push(reject(
                RejectReason::DuplicateInSource,
                format!(
                    "same site as {} ({}) in this {} answer",
                    first.external_id, first.candidate_id, c.source
                ),
                Some(first.candidate_id.clone()),
            ));
            figures.rejected += 1;
            continue;
        }
        seen.insert(&c.candidate_id, i);
        let cref = CandidateRef {
            candidate_id: &c.candidate_id,
            source: &c.source,
            external_id: &c.external_id,
            fields: &c.fields,
        };
        // Identity is decided once: a candidate already attached, or waiting for a
        // person, is accepted again (it was observed again) but not re-decided.
        let already = index.entity_of(&c.candidate_id).map(str::to_string);
        if already.is_some() || in_review.contains_key(&c.candidate_id) {
            events.push(accepted_event(
                ids,
                c,
                &idx,
                vec!["valid".into(), "identity already decided".into()],
            ));
            figures.accepted += 1;
            if let Some(eid) = already {
                note_entity(figures, &eid, c.fields.name.as_deref(), &c.source);
            }
            kept.entry(key).or_default().push(c);
            continue;
        }
        let decision = index.decide(&cref);
        let (outcome, stream, stream_expect) = match &decision.outcome {
            Outcome::NoMatchCannotFound => {
                events.push(reject(RejectReason::Invalid, CANNOT_FOUND.into(), None));
                figures.rejected += 1;
                continue;
            }
            Outcome::NewEntity => {
                let eid = entity_id_for(&c.candidate_id);
                figures.entities_created += 1;
                (
                    MergeOutcome::NewEntity {
                        entity_id: eid.clone(),
                    },
                    format!("entity/{eid}"),
                    Some(ExpectedVersion::NoStream),
                )
            }
            Outcome::Existing(eid) => {
                figures.entities_updated += 1;
                (
                    MergeOutcome::ExistingEntity {
                        entity_id: eid.clone(),
                    },
                    format!("entity/{eid}"),
                    None,
                )
            }
            Outcome::Review(entity_ids) => {
                let review_id = format!("r_{}", &c.candidate_id.trim_start_matches("c_"));
                figures.reviews_requested += 1;
                (
                    MergeOutcome::NeedsReview {
                        review_id: review_id.clone(),
                        entity_ids: entity_ids.clone(),
                    },
                    format!("review/{review_id}"),
                    Some(ExpectedVersion::NoStream),
                )
            }
        };
        events.push(accepted_event(
            ids,
            c,
            &idx,
            vec!["valid".into(), "not a duplicate in this run".into()],
        ));
        figures.accepted += 1;
        let merge = event(
            ids,
            stream.clone(),
            MergeDecided {
                candidate_id: c.candidate_id.clone(),
                decision: outcome.clone(),
                score: decision.score,
                features: decision.features.clone(),
                matcher_version: MATCHER_VERSION.to_string(),
                decided_by: "matcher".into(),
            },
            &["MergeDecided", &c.candidate_id, "matcher"],
            c.extracted_event,
        );
        let merge_id = merge.id;
        events.push(merge);
        if let Some(e) = stream_expect {
            expected.insert(stream.clone(), e);
        }
        match outcome {
            MergeOutcome::NewEntity { entity_id } | MergeOutcome::ExistingEntity { entity_id } => {
                index.attach(&cref, &entity_id);
                note_entity(figures, &entity_id, c.fields.name.as_deref(), &c.source);
            }
            MergeOutcome::NeedsReview {
                review_id,
                entity_ids,
            } => {
                events.push(
                    NewEvent::new(
                        stream,
                        ReviewRequested {
                            review_id: review_id.clone(),
                            reason: ReviewReason::AmbiguousMatch,
                            candidate_id: Some(c.candidate_id.clone()),
                            entity_ids: entity_ids.clone(),
                            detail: if decision.score >= config.match_threshold {
                                // Only a record placed by its name alone is sent to review
                                // at the match threshold: it names several places equally.
                                format!(
                                    "score {:.3} reaches the match threshold {:.2}, as another \
                                     entity's does, and nothing but its name places the record: \
                                     a reviewer says which of the {} entities it is, if any",
                                    decision.score,
                                    config.match_threshold,
                                    entity_ids.len()
                                )
                            } else {
                                format!(
                                    "score {:.3} is in the review band [{:.2}, {:.2}) against {}",
                                    decision.score,
                                    config.review_threshold,
                                    config.match_threshold,
                                    entity_ids.first().map(String::as_str).unwrap_or("?")
                                )
                            },
                        },
                    )
                    .with_id(derived_event_id(&["ReviewRequested", &review_id]))
                    .in_run(ids.run_id, ids.trace_id)
                    .caused_by(merge_id),
                );
            }
        }
        kept.entry(key).or_default().push(c);
    }
    (events, expected)
}

fn accepted_event(
    ids: &RunIds<'_>,
    c: &RunCandidate,
    idx: &str,
    mut checks: Vec<String>,
) -> NewEvent {
    let run = ids.run_id.to_string();
    checks.extend(c.relevance.iter().cloned());
    event(
        ids,
        format!("candidate/{}", c.candidate_id),
        CandidateAccepted {
            candidate_id: c.candidate_id.clone(),
            checks,
        },
        &["CandidateAccepted", &run, &c.candidate_id, idx],
        c.extracted_event,
    )
}

fn note_entity(figures: &mut StageFigures, entity_id: &str, name: Option<&str>, source: &str) {
    let entry = figures
        .entities
        .entry(entity_id.to_string())
        .or_insert_with(|| (name.unwrap_or_default().to_string(), Vec::new()));
    if !entry.1.iter().any(|s| s == source) {
        entry.1.push(source.to_string());
        entry.1.sort();
    }
}
