//! The fold: what the log says about candidates, entities and runs, applied one event at
//! a time. [`apply`] is pure and synchronous (no I/O, no clock, no policy): the same
//! function serves the full rebuild, the incremental catch-up and `--as-of`. Field values
//! are not chosen here; `merge.rs` chooses them from this state with a trust policy.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trustfold_events::{
    BlobHash, CandidateFields, DecodeError, EventKind, EventPayload, Hash32, MergeOutcome,
    RejectReason, ReviewDecision, ReviewReason, RunFigures, RunStatus, StoredEvent,
};

use crate::fields::Field;

/// Longest slug base (characters) before the collision suffix.
pub const SLUG_CHARS_MAX: usize = 64;

/// One event as the projections need it: the envelope, and the payload only for the kinds
/// whose content a projection reads (others are counted by kind and never decoded).
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectionEvent {
    pub seq: u64,
    pub kind: EventKind,
    pub recorded_at: DateTime<Utc>,
    pub run_id: Option<String>,
    pub trace_id: Option<String>,
    pub payload: Option<EventPayload>,
}

/// Whether a projection reads the payload of `kind` (the others are counted by kind).
pub fn needs_payload(kind: EventKind) -> bool {
    !matches!(kind, EventKind::ConnectorFailed | EventKind::DeadLettered)
}

impl ProjectionEvent {
    /// Decodes what the projections need of a stored event.
    pub fn from_stored(ev: &StoredEvent) -> Result<ProjectionEvent, DecodeError> {
        let kind: EventKind = ev.kind.parse()?;
        let payload = if needs_payload(kind) {
            Some(EventPayload::decode(
                &ev.kind,
                ev.schema_version,
                &ev.payload,
            )?)
        } else {
            None
        };
        Ok(ProjectionEvent {
            seq: ev.seq,
            kind,
            recorded_at: ev.recorded_at,
            run_id: ev.run_id.map(|u| u.to_string()),
            trace_id: ev.trace_id.clone(),
            payload,
        })
    }
}

/// The latest observation of one candidate: its fields and where they came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub source: String,
    pub external_id: String,
    pub fields: CandidateFields,
    pub seq: u64,
    pub recorded_at: DateTime<Utc>,
    pub run_id: Option<String>,
    pub trace_id: Option<String>,
    /// blake3 of the connector payload the record was extracted from.
    pub payload_hash: BlobHash,
}

impl Observation {
    /// The observation a `CandidateExtracted` event records (the payload moved in).
    pub fn from_event(
        p: trustfold_events::CandidateExtracted,
        seq: u64,
        recorded_at: DateTime<Utc>,
        run_id: Option<String>,
        trace_id: Option<String>,
    ) -> Observation {
        Observation {
            source: p.source,
            external_id: p.external_id,
            fields: p.fields,
            seq,
            recorded_at,
            run_id,
            trace_id,
            payload_hash: p.payload_hash,
        }
    }
}

/// When a candidate was last seen again, unchanged, after its latest observation
/// (a `CandidatesSeenAgain` covering it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    pub seq: u64,
    pub recorded_at: DateTime<Utc>,
    pub run_id: Option<String>,
}

/// A candidate as the fold knows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub candidate_id: String,
    /// The seq of its latest `CandidateExtracted`: the stored row keeps only this, and the
    /// observation is read back from the log when an entity is merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_seq: Option<u64>,
    /// The latest observation, when loaded (in a full in-memory fold, or for merging; the
    /// stored row and the light fold of a rebuild leave it out).
    /// (Boxed: most candidates of a fold hold none, and a candidate is then a third of
    /// the size.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<Box<Observation>>,
    /// The entity it belongs to, once identity is decided.
    pub entity_id: Option<String>,
    /// For a record rejected as a repeat of another record of the same source at the same
    /// site (one register row per facility): the candidate it repeats. It joins that
    /// candidate's entity, so the site's other facilities' sports are not lost.
    pub follows: Option<String>,
    /// Who put it in its entity: `matcher`, `review:<id>` or `same site as <candidate>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// The source of its latest observation (which entities a policy change touches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The name of its latest observation: the slug of an entity it founds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The payload of its latest observation (what `CandidatesSeenAgain` refers to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_hash: Option<BlobHash>,
    /// The record hash of its latest observation (see `CandidateExtracted::record_hash`):
    /// lets a writer tell an unchanged record from a changed one without reading the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_hash: Option<Hash32>,
    /// Last seen again unchanged, if after its latest observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Seen>,
}

/// A question put to a person, and the answer once given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewRow {
    pub review_id: String,
    pub reason: ReviewReason,
    pub candidate_id: Option<String>,
    pub entity_ids: Vec<String>,
    pub detail: String,
    pub requested_seq: u64,
    pub requested_at: DateTime<Utc>,
    pub run_id: Option<String>,
    /// `None` while open.
    pub decision: Option<ReviewDecision>,
    pub resolution: Option<Resolution>,
}

/// The answer to a review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub reason: String,
    pub by: String,
    pub entity_id: Option<String>,
    pub seq: u64,
    pub recorded_at: DateTime<Utc>,
}

/// An admin's value for one field (the admin tier: above every source).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub value: serde_json::Value,
    pub reason: String,
    pub by: String,
    pub seq: u64,
    pub recorded_at: DateTime<Utc>,
}

/// An entity as the fold knows it: who belongs, and the admin's overrides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityState {
    pub entity_id: String,
    /// Unique and stable: from the founding record's name, with `-2`, `-3`, ... when taken.
    pub slug: String,
    pub founded_seq: u64,
    pub members: BTreeSet<String>,
    pub overrides: BTreeMap<Field, Override>,
    /// The last event that changed this entity.
    pub updated_seq: u64,
}

/// An entity that a person merged into another (`EntitiesMerged`): its id and slug are
/// aliases of `into`, and are never given to another entity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergedAway {
    pub entity_id: String,
    pub slug: String,
    /// The survivor, never itself merged away: merging the survivor later moves every
    /// alias of it on to the new survivor, so an alias never points to another alias.
    pub into: String,
    pub seq: u64,
    pub recorded_at: DateTime<Utc>,
    pub by: String,
    pub reason: String,
}

/// Counts of a run, folded from its events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunCounts {
    pub responses: u64,
    pub failures: u64,
    pub dead_letters: u64,
    pub extracted: u64,
    pub accepted: u64,
    pub rejected_invalid: u64,
    pub rejected_duplicate_in_run: u64,
    pub rejected_duplicate_in_source: u64,
    /// Candidates that did not answer the query (issue 15); 0 in rows folded before it.
    #[serde(default)]
    pub rejected_off_topic: u64,
    pub new_entities: u64,
    pub existing_entities: u64,
    pub reviews: u64,
    /// Records the extractors left out, each with a reason.
    pub skipped_records: u64,
    /// Sum of the responses' billed cost, so an unfinished run shows what it spent.
    pub spent_usd: f64,
    /// Records seen again unchanged (`CandidatesSeenAgain`).
    #[serde(default)]
    pub seen_again: u64,
}

/// One row of the `runs` projection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub run_id: String,
    pub trace_id: Option<String>,
    pub query: String,
    pub mode: String,
    pub budget_usd: f64,
    /// The planner's estimate for the chosen connectors.
    pub estimated_cost_usd: f64,
    /// Connectors the planner left out, with why.
    pub skipped: Vec<(String, String)>,
    /// The planner's reading of the query, as `RunStarted` recorded it (the report says
    /// from it what the answer could not cover).
    #[serde(default)]
    pub features: serde_json::Value,
    /// `--keep-off-topic` was given.
    #[serde(default)]
    pub keep_off_topic: bool,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub first_seq: u64,
    pub last_seq: u64,
    pub connectors: Vec<String>,
    pub counts: RunCounts,
    /// The figures of the terminal event, once written.
    pub figures: Option<RunFigures>,
    /// The error of `RunFailed` or the reason of `RunCancelled`.
    pub error: Option<String>,
    /// Entities the run created (`true`) or added to (`false`).
    pub entities: BTreeMap<String, bool>,
}

impl RunRow {
    fn new(run_id: &str, ev: &ProjectionEvent) -> RunRow {
        RunRow {
            run_id: run_id.to_string(),
            trace_id: ev.trace_id.clone(),
            query: String::new(),
            mode: String::new(),
            budget_usd: 0.0,
            estimated_cost_usd: 0.0,
            skipped: Vec::new(),
            features: serde_json::Value::Null,
            keep_off_topic: false,
            status: RunStatus::Initiated,
            started_at: ev.recorded_at,
            ended_at: None,
            first_seq: ev.seq,
            last_seq: ev.seq,
            connectors: Vec::new(),
            counts: RunCounts::default(),
            figures: None,
            error: None,
            entities: BTreeMap::new(),
        }
    }
}

/// Everything the fold knows. Maps may hold only a slice of the whole (the incremental
/// path loads the rows an event batch touches); `dirty_*` name what changed since the
/// rows were last written.
#[derive(Clone, Debug, Default)]
pub struct State {
    pub candidates: HashMap<String, Candidate>,
    /// Leader candidate -> the candidates that follow it (see [`Candidate::follows`]).
    pub followers: HashMap<String, BTreeSet<String>>,
    pub entities: HashMap<String, EntityState>,
    /// Slugs known to be taken (all of them after a full fold; the needed ones otherwise).
    pub slugs: HashSet<String>,
    pub runs: HashMap<String, RunRow>,
    pub reviews: HashMap<String, ReviewRow>,
    pub dirty_reviews: BTreeSet<String>,
    pub dirty_candidates: BTreeSet<String>,
    pub dirty_entities: BTreeSet<String>,
    pub dirty_runs: BTreeSet<String>,
    pub last_seq: u64,
    /// A full fold writes every row anyway: it need not track which changed.
    pub untracked: bool,
    /// Slug base -> the next suffix worth trying, so many places of one name (e.g.
    /// "Tennis Court") do not probe every taken suffix again.
    pub slug_next: HashMap<String, u32>,
    /// Keep no observations (a rebuild's fold: observations are read back from the log
    /// when entities are merged, so memory does not grow with every record's fields).
    pub light: bool,
    /// Candidates by the payload of their latest observation (all of them after a full
    /// fold; the payloads an event batch names otherwise).
    pub by_payload: HashMap<BlobHash, BTreeSet<String>>,
    /// Entities merged into others, by their id (all of them after a full fold; the ones
    /// an event batch names, and the aliases of the entities it merges, otherwise).
    pub merged: HashMap<String, MergedAway>,
    pub dirty_merged: BTreeSet<String>,
}

/// Marks a row as changed, unless the state does not track changes.
fn mark(untracked: bool, set: &mut BTreeSet<String>, key: &str) {
    if !untracked && !set.contains(key) {
        set.insert(key.to_string());
    }
}

/// The slug base of a name: lowercase ASCII words joined by `-`.
pub fn slug_base(name: Option<&str>, entity_id: &str) -> String {
    let words = crate::values::fold_words(name.unwrap_or(""));
    let mut base = String::new();
    for w in words {
        let w: String = w.chars().filter(char::is_ascii_alphanumeric).collect();
        if w.is_empty() {
            continue;
        }
        if base.len() + w.len() + 1 > SLUG_CHARS_MAX {
            break;
        }
        if !base.is_empty() {
            base.push('-');
        }
        base.push_str(&w);
    }
    if base.is_empty() {
        entity_id.to_string()
    } else {
        base
    }
}

impl State {
    fn candidate(&mut self, cid: &str) -> &mut Candidate {
        // Look up first: most events name a known candidate, and `entry` would allocate
        // the key every time.
        if !self.candidates.contains_key(cid) {
            self.candidates.insert(
                cid.to_string(),
                Candidate {
                    candidate_id: cid.to_string(),
                    ..Candidate::default()
                },
            );
        }
        self.candidates
            .get_mut(cid)
            .expect("inserted just above when missing")
    }

    /// The slug base a new entity founded by `cid` would get.
    pub fn founding_slug_base(&self, cid: &str, entity_id: &str) -> String {
        let name = self.candidates.get(cid).and_then(|c| c.name.as_deref());
        slug_base(name, entity_id)
    }

    fn attach(&mut self, cid: &str, entity_id: &str, seq: u64, decided_by: &str) {
        // Followers join with the candidate they repeat, transitively; `seen` guards
        // against a cycle in a hand-made log.
        let mut todo = vec![(cid.to_string(), decided_by.to_string())];
        let mut seen: Vec<String> = Vec::new();
        while let Some((c, by)) = todo.pop() {
            if seen.contains(&c) {
                continue;
            }
            seen.push(c.clone());
            let cand = self.candidate(&c);
            cand.decided_by = Some(by);
            let previous = cand.entity_id.replace(entity_id.to_string());
            mark(self.untracked, &mut self.dirty_candidates, &c);
            if let Some(prev) = previous.filter(|p| p != entity_id) {
                if let Some(e) = self.entities.get_mut(&prev) {
                    e.members.remove(&c);
                    e.updated_seq = seq;
                    mark(self.untracked, &mut self.dirty_entities, &prev);
                }
            }
            if let Some(e) = self.entities.get_mut(entity_id) {
                e.members.insert(c.clone());
                e.updated_seq = seq;
            }
            if let Some(followers) = self.followers.get(&c) {
                todo.extend(
                    followers
                        .iter()
                        .map(|f| (f.clone(), format!("same site as {c}"))),
                );
            }
        }
        mark(self.untracked, &mut self.dirty_entities, entity_id);
    }

    fn run(&mut self, ev: &ProjectionEvent) -> Option<&mut RunRow> {
        let run_id = ev.run_id.as_deref()?;
        mark(self.untracked, &mut self.dirty_runs, run_id);
        if !self.runs.contains_key(run_id) {
            self.runs
                .insert(run_id.to_string(), RunRow::new(run_id, ev));
        }
        let row = self.runs.get_mut(run_id)?;
        row.last_seq = row.last_seq.max(ev.seq);
        Some(row)
    }
}

/// Applies one event to the state. Pure: the result depends only on `state` and `ev`.
/// The event is taken by value so a candidate's fields move into the state, uncopied.
pub fn apply(state: &mut State, ev: ProjectionEvent) {
    state.last_seq = state.last_seq.max(ev.seq);
    if let Some(run) = state.run(&ev) {
        count(run, &ev);
    }
    let ProjectionEvent {
        seq,
        recorded_at,
        run_id,
        trace_id,
        payload,
        ..
    } = ev;
    let Some(payload) = payload else {
        return;
    };
    match payload {
        EventPayload::CandidateExtracted(p) => {
            let cid = p.candidate_id.clone();
            let record_hash = p.record_hash();
            let payload_hash = p.payload_hash;
            let source = p.source.clone();
            let name = p.fields.name.clone();
            let observation = (!state.light).then(|| {
                Box::new(Observation::from_event(
                    p,
                    seq,
                    recorded_at,
                    run_id.clone(),
                    trace_id,
                ))
            });
            let cand = state.candidate(&cid);
            cand.observation = observation;
            cand.observed_seq = Some(seq);
            cand.source = Some(source);
            cand.name = name;
            cand.record_hash = Some(record_hash);
            cand.seen = None;
            let old_payload = cand.payload_hash.replace(payload_hash);
            let entity = cand.entity_id.clone();
            if old_payload != Some(payload_hash) {
                if let Some(set) = old_payload.and_then(|h| state.by_payload.get_mut(&h)) {
                    set.remove(&cid);
                }
                state
                    .by_payload
                    .entry(payload_hash)
                    .or_default()
                    .insert(cid.clone());
            }
            mark(state.untracked, &mut state.dirty_candidates, &cid);
            if let Some(eid) = entity {
                // (The run lists the entity when it accepts the record: see below.)
                if let Some(e) = state.entities.get_mut(&eid) {
                    e.updated_seq = seq;
                }
                mark(state.untracked, &mut state.dirty_entities, &eid);
            }
        }
        EventPayload::CandidateAccepted(p) => {
            // Accepted again by this run, its identity already decided: the run's report
            // lists the entity, not as new. (A record rejected, e.g. as off topic for the
            // run's query, is not listed however it was placed before.)
            let entity = state
                .candidates
                .get(&p.candidate_id)
                .and_then(|c| c.entity_id.clone());
            if let (Some(eid), Some(run)) =
                (entity, run_id.as_ref().and_then(|r| state.runs.get_mut(r)))
            {
                run.entities.entry(eid).or_insert(false);
            }
        }
        EventPayload::CandidatesSeenAgain(p) => {
            let seen = Seen {
                seq,
                recorded_at,
                run_id: run_id.clone(),
            };
            let absent: HashSet<&str> = p.absent.iter().map(String::as_str).collect();
            let mut covered: BTreeSet<String> = BTreeSet::new();
            for h in &p.earlier_payloads {
                if let Some(set) = state.by_payload.get(h) {
                    covered.extend(set.iter().filter(|c| !absent.contains(c.as_str())).cloned());
                }
            }
            for cid in covered {
                let Some(cand) = state.candidates.get_mut(&cid) else {
                    continue;
                };
                cand.seen = Some(seen.clone());
                let entity = cand.entity_id.clone();
                mark(state.untracked, &mut state.dirty_candidates, &cid);
                if let Some(eid) = entity {
                    if let Some(run) = run_id.as_ref().and_then(|r| state.runs.get_mut(r)) {
                        run.entities.entry(eid).or_insert(false);
                    }
                }
            }
        }
        EventPayload::CandidateRejected(p) => {
            if p.reason != RejectReason::DuplicateInSource {
                return;
            }
            let Some(leader) = p.duplicate_of.as_deref().filter(|l| *l != p.candidate_id) else {
                return;
            };
            let leader_entity = state
                .candidates
                .get(leader)
                .and_then(|c| c.entity_id.clone());
            let cand = state.candidate(&p.candidate_id);
            if cand.entity_id.is_some() {
                // Identity already decided for this record itself: that decision stands.
                return;
            }
            // The latest statement of which record it repeats is the one that counts.
            if let Some(old) = cand.follows.replace(leader.to_string()) {
                if let Some(set) = state.followers.get_mut(&old) {
                    set.remove(&p.candidate_id);
                }
            }
            state
                .followers
                .entry(leader.to_string())
                .or_default()
                .insert(p.candidate_id.clone());
            mark(
                state.untracked,
                &mut state.dirty_candidates,
                &p.candidate_id,
            );
            if let Some(eid) = leader_entity {
                state.attach(
                    &p.candidate_id,
                    &eid,
                    seq,
                    &format!("same site as {leader}"),
                );
            }
        }
        EventPayload::MergeDecided(p) => match &p.decision {
            MergeOutcome::NewEntity { entity_id } if state.merged.contains_key(entity_id) => {
                // Ids are never reused: an entity merged away is not founded again (no
                // command writes this; a hand-made log might), its survivor takes the record.
                let into = state.merged[entity_id].into.clone();
                if state.entities.contains_key(&into) {
                    state.attach(&p.candidate_id, &into, seq, &p.decided_by);
                }
            }
            MergeOutcome::NewEntity { entity_id } => {
                if !state.entities.contains_key(entity_id) {
                    let base = state.founding_slug_base(&p.candidate_id, entity_id);
                    let mut slug = base.clone();
                    let mut n = state.slug_next.get(&base).copied().unwrap_or(2);
                    if state.slugs.contains(&slug) {
                        slug = format!("{base}-{n}");
                        while state.slugs.contains(&slug) {
                            n += 1;
                            slug = format!("{base}-{n}");
                        }
                        n += 1;
                    }
                    state.slug_next.insert(base, n);
                    state.slugs.insert(slug.clone());
                    state.entities.insert(
                        entity_id.clone(),
                        EntityState {
                            entity_id: entity_id.clone(),
                            slug,
                            founded_seq: seq,
                            members: BTreeSet::new(),
                            overrides: BTreeMap::new(),
                            updated_seq: seq,
                        },
                    );
                }
                state.attach(&p.candidate_id, entity_id, seq, &p.decided_by);
            }
            MergeOutcome::ExistingEntity { entity_id } => {
                // An entity merged away is an alias of its survivor: a record decided
                // to match it (a run matching a member it still remembers there, a
                // review answered late) joins the survivor.
                let entity_id = state
                    .merged
                    .get(entity_id)
                    .map_or(entity_id.as_str(), |m| m.into.as_str())
                    .to_string();
                if state.entities.contains_key(&entity_id) {
                    state.attach(&p.candidate_id, &entity_id, seq, &p.decided_by);
                }
            }
            MergeOutcome::NeedsReview { .. } => {}
        },
        EventPayload::ReviewRequested(p) => {
            mark(state.untracked, &mut state.dirty_reviews, &p.review_id);
            state
                .reviews
                .entry(p.review_id.clone())
                .or_insert_with(|| ReviewRow {
                    review_id: p.review_id.clone(),
                    reason: p.reason,
                    candidate_id: p.candidate_id.clone(),
                    entity_ids: p.entity_ids.clone(),
                    detail: p.detail.clone(),
                    requested_seq: seq,
                    requested_at: recorded_at,
                    run_id: run_id.clone(),
                    decision: None,
                    resolution: None,
                });
        }
        EventPayload::ReviewResolved(p) => {
            // The first answer is the answer: a second one (two reviewers racing past the
            // command's check) is in the log, but does not change the review.
            if let Some(r) = state.reviews.get_mut(&p.review_id) {
                if r.decision.is_none() {
                    r.decision = Some(p.decision);
                    r.resolution = Some(Resolution {
                        reason: p.reason.clone(),
                        by: p.by.clone(),
                        entity_id: p.entity_id.clone(),
                        seq,
                        recorded_at,
                    });
                    mark(state.untracked, &mut state.dirty_reviews, &p.review_id);
                }
            }
        }
        EventPayload::EntitySplit(p) => {
            // The record moved with the `MergeDecided` before this event; the entity it
            // left was corrected now.
            if let Some(e) = state.entities.get_mut(&p.entity_id) {
                e.updated_seq = seq;
                mark(state.untracked, &mut state.dirty_entities, &p.entity_id);
            }
        }
        EventPayload::EntitiesMerged(p) => {
            // The survivor named may itself have been merged away since (a hand-made log:
            // the command names the survivor's survivor): follow it, once.
            let into = state
                .merged
                .get(&p.entity_id)
                .map_or(p.entity_id.clone(), |m| m.into.clone());
            if into == p.merged_entity_id || !state.entities.contains_key(&into) {
                return;
            }
            let Some(gone) = state.entities.remove(&p.merged_entity_id) else {
                return;
            };
            // Its members moved with the `MergeDecided` events before this one; any left
            // (none, unless the log was made by hand) join the survivor here.
            let by = format!("merge:{}", p.merged_entity_id);
            for cid in &gone.members {
                state.attach(cid, &into, seq, &by);
            }
            for alias in state.merged.values_mut() {
                if alias.into == p.merged_entity_id {
                    alias.into = into.clone();
                    mark(state.untracked, &mut state.dirty_merged, &alias.entity_id);
                }
            }
            state.merged.insert(
                p.merged_entity_id.clone(),
                MergedAway {
                    entity_id: p.merged_entity_id.clone(),
                    slug: gone.slug,
                    into: into.clone(),
                    seq,
                    recorded_at,
                    by: p.by.clone(),
                    reason: p.reason.clone(),
                },
            );
            mark(
                state.untracked,
                &mut state.dirty_merged,
                &p.merged_entity_id,
            );
            // Dirty and absent: the writer deletes its row.
            mark(
                state.untracked,
                &mut state.dirty_entities,
                &p.merged_entity_id,
            );
            if let Some(e) = state.entities.get_mut(&into) {
                e.updated_seq = seq;
            }
            mark(state.untracked, &mut state.dirty_entities, &into);
        }
        EventPayload::FieldOverridden(p) => {
            let (Ok(field), Some(entity)) = (
                p.field.parse::<Field>(),
                state.entities.get_mut(&p.entity_id),
            ) else {
                return;
            };
            match &p.value {
                Some(value) => {
                    entity.overrides.insert(
                        field,
                        Override {
                            value: value.clone(),
                            reason: p.reason.clone(),
                            by: p.by.clone(),
                            seq,
                            recorded_at,
                        },
                    );
                }
                None => {
                    entity.overrides.remove(&field);
                }
            }
            entity.updated_seq = seq;
            mark(state.untracked, &mut state.dirty_entities, &p.entity_id);
        }
        _ => {}
    }
}

/// The run-level figures of one event.
fn count(run: &mut RunRow, ev: &ProjectionEvent) {
    let c = &mut run.counts;
    match ev.kind {
        EventKind::ConnectorFailed => c.failures += 1,
        EventKind::DeadLettered => c.dead_letters += 1,
        EventKind::CandidateExtracted => c.extracted += 1,
        EventKind::CandidateAccepted => c.accepted += 1,
        EventKind::ReviewRequested => c.reviews += 1,
        _ => {}
    }
    let Some(payload) = &ev.payload else {
        return;
    };
    match payload {
        EventPayload::RunStarted(p) => {
            run.query = p.query.clone();
            run.mode = p.mode.clone();
            run.budget_usd = p.budget_usd;
            run.started_at = ev.recorded_at;
            run.trace_id = ev.trace_id.clone().or(run.trace_id.take());
            run.connectors = p.selected.iter().map(|s| s.connector.clone()).collect();
            run.estimated_cost_usd = p.selected.iter().map(|s| s.cost_usd).sum();
            run.skipped = p
                .skipped
                .iter()
                .map(|s| (s.connector.clone(), s.reason.clone()))
                .collect();
            run.features = p.features.clone();
            run.keep_off_topic = p.keep_off_topic;
            if !run.status.is_terminal() {
                run.status = RunStatus::Running;
            }
        }
        EventPayload::CandidateExtracted(p) => c.skipped_records += p.skipped_records.len() as u64,
        EventPayload::CandidatesSeenAgain(p) => {
            c.seen_again += p.n_records;
            c.skipped_records += p.skipped_records.len() as u64;
        }
        EventPayload::ConnectorResponded(p) => {
            c.responses += 1;
            c.spent_usd += p.cost_usd;
        }
        EventPayload::CandidateRejected(p) => match p.reason {
            RejectReason::Invalid => c.rejected_invalid += 1,
            RejectReason::DuplicateInRun => c.rejected_duplicate_in_run += 1,
            RejectReason::DuplicateInSource => c.rejected_duplicate_in_source += 1,
            RejectReason::OffTopic => c.rejected_off_topic += 1,
        },
        EventPayload::MergeDecided(p) => match &p.decision {
            MergeOutcome::NewEntity { entity_id } => {
                c.new_entities += 1;
                run.entities.insert(entity_id.clone(), true);
            }
            MergeOutcome::ExistingEntity { entity_id } => {
                c.existing_entities += 1;
                run.entities.entry(entity_id.clone()).or_insert(false);
            }
            MergeOutcome::NeedsReview { .. } => {}
        },
        EventPayload::RunCompleted(p) => finish(run, ev, RunStatus::Completed, &p.figures, None),
        EventPayload::RunFailed(p) => finish(
            run,
            ev,
            RunStatus::Failed,
            &p.figures,
            Some(format!("{}: {}", p.stage, p.error)),
        ),
        EventPayload::RunCancelled(p) => finish(
            run,
            ev,
            RunStatus::Cancelled,
            &p.figures,
            Some(p.reason.clone()),
        ),
        _ => {}
    }
}

fn finish(
    run: &mut RunRow,
    ev: &ProjectionEvent,
    status: RunStatus,
    figures: &RunFigures,
    error: Option<String>,
) {
    run.status = status;
    run.ended_at = Some(ev.recorded_at);
    run.figures = Some(figures.clone());
    run.error = error;
}
