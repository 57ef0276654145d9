//! Field-level merging: from an entity's candidates and a trust policy to its canonical
//! values and the provenance of every value, winner or loser. Pure.
//!
//! Rules, per field:
//! - an admin override beats every source (tier `admin`);
//! - a source that excludes the field never supplies it; placeholders ("", "N/A", "-", …)
//!   count as missing;
//! - single-valued fields go to the best rank: tier, then the source's preference for the
//!   field, then trust, then the most recent observation, then the smallest candidate id;
//! - free text (`description`) takes the longest value of the best tier present;
//! - multi-valued fields (`categories`, `sports`, `external_ids`) are unions, each element
//!   with the sources that gave it;
//! - a winning value's confidence is the trust-weighted share of the contending sources
//!   that agree with it; a disagreeing source within `conflict_trust_gap_max` of the
//!   winner's trust flags the field as a conflict.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::fields::Field;
use crate::policy::{Rank, Tier, TrustPolicy};
use crate::state::{Candidate, EntityState, Observation, Seen};
use crate::values::{agree, elements, observe, text_chars, Observed};

/// The number of key fields completeness counts: the 20 fields of a candidate record
/// (latitude and longitude count apart, so `coordinates` counts twice).
pub const COMPLETENESS_FIELDS_TOTAL: u32 = 20;

/// The source name provenance shows for an admin override.
pub const ADMIN_SOURCE: &str = "admin";

/// Why a value did not win.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossReason {
    /// An admin override holds the field.
    Overridden,
    /// The policy says this source never supplies this field.
    Excluded,
    /// The value is a placeholder ("N/A", "-", ...) and counts as missing.
    Placeholder,
    /// The value is not valid for its field (a phone number that is not one), kept as the
    /// source wrote it and counted as missing; `note` says why.
    Invalid,
    LowerTier,
    /// Same tier, but the winner's source prefers this field and this one does not.
    NotPreferred,
    LowerTrust,
    /// Free text: a longer text of the same tier won.
    ShorterText,
    /// Same rank: a more recent observation won.
    OlderObservation,
    /// Same rank and time: the smaller candidate id won (deterministic tie-break).
    CandidateIdTieBreak,
}

impl LossReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LossReason::Overridden => "overridden",
            LossReason::Excluded => "field excluded for this source",
            LossReason::Placeholder => "placeholder (counts as missing)",
            LossReason::Invalid => "not a valid value (kept as written, counts as missing)",
            LossReason::LowerTier => "lower tier",
            LossReason::NotPreferred => "source not preferred for this field",
            LossReason::LowerTrust => "lower trust",
            LossReason::ShorterText => "shorter text",
            LossReason::OlderObservation => "older observation",
            LossReason::CandidateIdTieBreak => "candidate id tie-break",
        }
    }
}

/// One candidate value of one field (or an override), as provenance shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProvenanceRow {
    pub field: Field,
    /// The candidate, or `override` for an admin value.
    pub candidate_id: String,
    pub source: String,
    pub value: Value,
    pub trust: f64,
    pub tier: Tier,
    pub preferred: bool,
    /// The event that carried the value (`CandidateExtracted` or `FieldOverridden`).
    pub seq: u64,
    pub recorded_at: DateTime<Utc>,
    pub run_id: Option<String>,
    pub trace_id: Option<String>,
    /// blake3 of the connector payload (hex); none for an override.
    pub payload_hash: Option<String>,
    pub winner: bool,
    pub loss: Option<LossReason>,
    /// Whether the value says the same as the winner's.
    pub agrees: bool,
    /// For an override: who and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who put the candidate in this entity: `matcher`, `review:<id>`, `same site as <c>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When the record was last seen again unchanged (a later `CandidatesSeenAgain`),
    /// if it was: the value still stood then. `seq` and `recorded_at` stay those of the
    /// observation that carried the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// One element of a multi-valued field and the sources that gave it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Element {
    pub value: Value,
    pub sources: Vec<String>,
    /// Trust-weighted share of the field's contributing sources that gave it.
    pub support: f64,
}

/// The winning value of one field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldValue {
    pub value: Value,
    /// The winning source (for a union: the best-ranked contributor); `admin` for an override.
    pub source: String,
    pub tier: Tier,
    pub trust: f64,
    pub confidence: f64,
    pub conflict: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elements: Vec<Element>,
}

/// An entity with its fields chosen under one policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergedEntity {
    pub entity_id: String,
    pub slug: String,
    pub founded_seq: u64,
    pub updated_seq: u64,
    pub values: BTreeMap<Field, FieldValue>,
    /// Every candidate value of every field; empty in the stored table (merged on read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provenance: Vec<ProvenanceRow>,
    pub sources: Vec<String>,
    pub n_candidates: usize,
    pub completeness_present: u32,
}

impl MergedEntity {
    pub fn name(&self) -> Option<&str> {
        self.values.get(&Field::Name).and_then(|v| v.value.as_str())
    }

    pub fn text(&self, field: Field) -> Option<&str> {
        self.values.get(&field).and_then(|v| v.value.as_str())
    }

    /// `(lat, lon)` of the winning coordinates.
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        let v = &self.values.get(&Field::Coordinates)?.value;
        Some((v.get("lat")?.as_f64()?, v.get("lon")?.as_f64()?))
    }

    /// Field -> winning source.
    pub fn source_info(&self) -> BTreeMap<Field, String> {
        self.values
            .iter()
            .map(|(f, v)| (*f, v.source.clone()))
            .collect()
    }

    /// Fields whose winner is contested by a source of near trust.
    pub fn conflicts(&self) -> Vec<Field> {
        self.values
            .iter()
            .filter(|(_, v)| v.conflict)
            .map(|(f, _)| *f)
            .collect()
    }

    pub fn completeness_pct(&self) -> f64 {
        100.0 * self.completeness_present as f64 / COMPLETENESS_FIELDS_TOTAL as f64
    }

    /// `{source: [ids]}`, the union of every candidate's own id and the ids it names.
    pub fn external_ids(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(Value::Object(map)) = self.values.get(&Field::ExternalIds).map(|v| &v.value) {
            for (src, ids) in map {
                let list = out.entry(src.clone()).or_default();
                for id in ids
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    list.push(id.to_string());
                }
            }
        }
        out
    }
}

/// One candidate value competing for a field.
struct Contender<'a> {
    cid: &'a str,
    decided_by: Option<&'a str>,
    seen: Option<&'a Seen>,
    obs: &'a Observation,
    value: Value,
    rank: Rank,
}

impl Contender<'_> {
    /// Greater is better: rank, then the later observation, then the smaller candidate id.
    fn cmp_best(&self, other: &Contender<'_>) -> Ordering {
        self.rank
            .cmp_rank(&other.rank)
            .then(self.obs.seq.cmp(&other.obs.seq))
            .then_with(|| other.cid.cmp(self.cid))
    }
}

fn row(
    field: Field,
    who: Who<'_>,
    obs: &Observation,
    value: Value,
    rank: Option<Rank>,
) -> ProvenanceRow {
    let Who {
        cid,
        decided_by,
        seen,
    } = who;
    ProvenanceRow {
        field,
        candidate_id: cid.to_string(),
        source: obs.source.clone(),
        value,
        trust: rank.map(|r| r.trust).unwrap_or(0.0),
        tier: rank.map(|r| r.tier).unwrap_or(Tier::Crowdsourced),
        preferred: rank.map(|r| r.preferred).unwrap_or(false),
        seq: obs.seq,
        recorded_at: obs.recorded_at,
        run_id: obs.run_id.clone(),
        trace_id: obs.trace_id.clone(),
        payload_hash: Some(obs.payload_hash.to_hex()),
        winner: false,
        loss: None,
        agrees: false,
        note: None,
        decided_by: decided_by.map(str::to_string),
        last_seen_seq: seen.map(|s| s.seq),
        last_seen_at: seen.map(|s| s.recorded_at),
    }
}

/// The member a provenance row is about: its id, who decided it and when it was last
/// seen again.
#[derive(Clone, Copy)]
struct Who<'a> {
    cid: &'a str,
    decided_by: Option<&'a str>,
    seen: Option<&'a Seen>,
}

impl<'a> Contender<'a> {
    fn who(&self) -> Who<'a> {
        Who {
            cid: self.cid,
            decided_by: self.decided_by,
            seen: self.seen,
        }
    }
}

/// Why `loser` ranks below `winner` (single-valued fields).
fn loss_reason(field: Field, winner: &Contender<'_>, loser: &Contender<'_>) -> LossReason {
    if loser.rank.tier != winner.rank.tier {
        LossReason::LowerTier
    } else if field == Field::Description && text_chars(&loser.value) < text_chars(&winner.value) {
        LossReason::ShorterText
    } else if loser.rank.preferred != winner.rank.preferred {
        LossReason::NotPreferred
    } else if loser.rank.trust != winner.rank.trust {
        LossReason::LowerTrust
    } else if loser.obs.seq != winner.obs.seq {
        LossReason::OlderObservation
    } else {
        LossReason::CandidateIdTieBreak
    }
}

/// Merges an entity's member candidates under `policy`. Members without an observation
/// (a decision whose extraction is not in the folded range) are skipped.
pub fn merge_entity(
    entity: &EntityState,
    members: &[&Candidate],
    policy: &TrustPolicy,
) -> MergedEntity {
    merge(entity, members, policy, true)
}

/// [`merge_entity`] without the provenance rows: the same values, confidences and
/// conflicts, for the Entity table (provenance is merged again, per entity, when read).
pub fn merge_values(
    entity: &EntityState,
    members: &[&Candidate],
    policy: &TrustPolicy,
) -> MergedEntity {
    merge(entity, members, policy, false)
}

fn merge(
    entity: &EntityState,
    members: &[&Candidate],
    policy: &TrustPolicy,
    with_provenance: bool,
) -> MergedEntity {
    let observed: Vec<Member<'_>> = members
        .iter()
        .filter_map(|c| {
            Some(Member {
                cid: c.candidate_id.as_str(),
                decided_by: c.decided_by.as_deref(),
                seen: c.seen.as_ref(),
                obs: c.observation.as_ref()?,
            })
        })
        .collect();
    let mut values = BTreeMap::new();
    let mut provenance = Vec::new();
    for &field in Field::ALL {
        let rows = with_provenance.then_some(&mut provenance);
        if let Some(v) = merge_field(field, entity, &observed, policy, rows) {
            values.insert(field, v);
        }
    }
    let sources: BTreeSet<String> = observed.iter().map(|m| m.obs.source.clone()).collect();
    let completeness_present = values
        .keys()
        .map(|f| if *f == Field::Coordinates { 2 } else { 1 })
        .sum();
    MergedEntity {
        entity_id: entity.entity_id.clone(),
        slug: entity.slug.clone(),
        founded_seq: entity.founded_seq,
        updated_seq: entity.updated_seq,
        values,
        provenance,
        sources: sources.into_iter().collect(),
        n_candidates: observed.len(),
        completeness_present,
    }
}

/// A member candidate with an observation.
struct Member<'a> {
    cid: &'a str,
    decided_by: Option<&'a str>,
    seen: Option<&'a Seen>,
    obs: &'a Observation,
}

fn merge_field(
    field: Field,
    entity: &EntityState,
    observed: &[Member<'_>],
    policy: &TrustPolicy,
    provenance: Option<&mut Vec<ProvenanceRow>>,
) -> Option<FieldValue> {
    // Without provenance, rows are built into a scratch vector that is never filled:
    // every push below is guarded by `keep`.
    let keep = provenance.is_some();
    let mut scratch = Vec::new();
    let provenance = provenance.unwrap_or(&mut scratch);
    // Excluded and placeholder values are listed after the contenders.
    let mut set_aside: Vec<ProvenanceRow> = Vec::new();
    let mut contenders: Vec<Contender<'_>> = Vec::new();
    for m in observed {
        let (cid, obs) = (m.cid, m.obs);
        let who = Who {
            cid,
            decided_by: m.decided_by,
            seen: m.seen,
        };
        match observe(field, &obs.fields, &obs.source, &obs.external_id) {
            Observed::Absent => {}
            Observed::Placeholder(v) => {
                if keep {
                    let mut r = row(field, who, obs, v, policy.rank(&obs.source, field));
                    r.loss = Some(LossReason::Placeholder);
                    set_aside.push(r);
                }
            }
            Observed::Invalid { value, reason } => {
                if keep {
                    let mut r = row(field, who, obs, value, policy.rank(&obs.source, field));
                    r.loss = Some(LossReason::Invalid);
                    r.note = Some(reason);
                    set_aside.push(r);
                }
            }
            Observed::Present(value) => match policy.rank(&obs.source, field) {
                None => {
                    if keep {
                        let mut r = row(field, who, obs, value, None);
                        r.trust = policy.source(&obs.source).trust;
                        r.tier = policy.source(&obs.source).tier;
                        r.loss = Some(LossReason::Excluded);
                        set_aside.push(r);
                    }
                }
                Some(rank) => contenders.push(Contender {
                    cid,
                    decided_by: m.decided_by,
                    seen: m.seen,
                    obs,
                    value,
                    rank,
                }),
            },
        }
    }
    contenders.sort_by(|a, b| b.cmp_best(a));
    if field == Field::Description {
        // Free text: the longest value of the best tier, ties broken by rank.
        if let Some(best_tier) = contenders.first().map(|c| c.rank.tier) {
            let longest = contenders
                .iter()
                .enumerate()
                .filter(|(_, c)| c.rank.tier == best_tier)
                .max_by(|(ia, a), (ib, b)| {
                    text_chars(&a.value)
                        .cmp(&text_chars(&b.value))
                        .then(ib.cmp(ia))
                })
                .map(|(i, _)| i)
                .unwrap_or(0);
            let c = contenders.remove(longest);
            contenders.insert(0, c);
        }
    }

    if let Some(ov) = entity.overrides.get(&field) {
        let admin = TrustPolicy::admin_rank();
        if keep {
            provenance.push(ProvenanceRow {
                field,
                candidate_id: "override".into(),
                source: ADMIN_SOURCE.into(),
                value: ov.value.clone(),
                trust: admin.trust,
                tier: admin.tier,
                preferred: true,
                seq: ov.seq,
                recorded_at: ov.recorded_at,
                run_id: None,
                trace_id: None,
                payload_hash: None,
                winner: true,
                loss: None,
                agrees: true,
                note: Some(format!("by {}: {}", ov.by, ov.reason)),
                decided_by: None,
                last_seen_seq: None,
                last_seen_at: None,
            });
            for c in &contenders {
                let mut r = row(field, c.who(), c.obs, c.value.clone(), Some(c.rank));
                r.loss = Some(LossReason::Overridden);
                r.agrees = agree(field, &ov.value, &c.value);
                provenance.push(r);
            }
            provenance.append(&mut set_aside);
        }
        return Some(FieldValue {
            value: ov.value.clone(),
            source: ADMIN_SOURCE.into(),
            tier: admin.tier,
            trust: admin.trust,
            confidence: 1.0,
            conflict: false,
            elements: Vec::new(),
        });
    }

    let Some(winner) = contenders.first() else {
        provenance.append(&mut set_aside);
        return None;
    };
    // Confidence and conflicts count sources, not records: a register that lists a site
    // once per facility is one voice. Each source speaks through its best-ranked value.
    let mut voices: Vec<&Contender<'_>> = Vec::new();
    for c in &contenders {
        if !voices.iter().any(|v| v.obs.source == c.obs.source) {
            voices.push(c);
        }
    }
    let total_trust: f64 = voices.iter().map(|c| c.rank.trust).sum();
    let result = if field.is_multi_valued() {
        union(
            field,
            &contenders,
            &voices,
            total_trust,
            keep.then_some(provenance),
        )
    } else {
        let gap_max = policy.conflict_trust_gap_max();
        let mut agreeing_trust = 0.0;
        let mut conflict = false;
        for v in &voices {
            if std::ptr::eq(*v, winner) || agree(field, &winner.value, &v.value) {
                agreeing_trust += v.rank.trust;
            } else if (winner.rank.trust - v.rank.trust).abs() <= gap_max + 1e-9 {
                conflict = true;
            }
        }
        for (i, c) in contenders.iter().enumerate().filter(|_| keep) {
            let mut r = row(field, c.who(), c.obs, c.value.clone(), Some(c.rank));
            r.agrees = i == 0 || agree(field, &winner.value, &c.value);
            if i == 0 {
                r.winner = true;
            } else {
                r.loss = Some(loss_reason(field, winner, c));
            }
            provenance.push(r);
        }
        FieldValue {
            value: winner.value.clone(),
            source: winner.obs.source.clone(),
            tier: winner.rank.tier,
            trust: winner.rank.trust,
            confidence: share(agreeing_trust, total_trust),
            conflict,
            elements: Vec::new(),
        }
    };
    provenance.append(&mut set_aside);
    Some(result)
}

fn share(part: f64, total: f64) -> f64 {
    if total > 0.0 {
        ((part / total) * 1000.0).round() / 1000.0
    } else {
        1.0
    }
}

/// The value of a multi-valued field, from its elements (best-supported first): a list
/// of categories or sports; for external ids, `{source: [ids, sorted]}`.
pub fn union_value(field: Field, elements: &[Element]) -> Value {
    if field == Field::ExternalIds {
        let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for e in elements {
            if let (Some(src), Some(id)) = (e.value.get("source"), e.value.get("id")) {
                map.entry(src.as_str().unwrap_or("").to_string())
                    .or_default()
                    .push(id.clone());
            }
        }
        for ids in map.values_mut() {
            ids.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
        Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, Value::Array(v)))
                .collect::<Map<String, Value>>(),
        )
    } else {
        Value::Array(elements.iter().map(|e| e.value.clone()).collect())
    }
}

/// A multi-valued field: the union of the contenders' elements.
fn union(
    field: Field,
    contenders: &[Contender<'_>],
    voices: &[&Contender<'_>],
    total_trust: f64,
    mut provenance: Option<&mut Vec<ProvenanceRow>>,
) -> FieldValue {
    // key -> (first value seen in rank order, sources giving it)
    let mut by_key: BTreeMap<String, (usize, Value, BTreeSet<&str>)> = BTreeMap::new();
    for (i, c) in contenders.iter().enumerate() {
        if let Some(rows) = provenance.as_deref_mut() {
            let mut r = row(field, c.who(), c.obs, c.value.clone(), Some(c.rank));
            r.winner = true;
            r.agrees = true;
            rows.push(r);
        }
        for (key, value) in elements(field, &c.value) {
            by_key
                .entry(key)
                .or_insert_with(|| (i, value, BTreeSet::new()))
                .2
                .insert(c.obs.source.as_str());
        }
    }
    // A source's trust, as its best-ranked value has it.
    let trust_of = |source: &str| {
        voices
            .iter()
            .find(|v| v.obs.source == source)
            .map(|v| v.rank.trust)
            .unwrap_or(0.0)
    };
    let mut elems: Vec<(usize, String, Element)> = by_key
        .into_iter()
        .map(|(key, (first, value, sources))| {
            let trust: f64 = sources.iter().map(|s| trust_of(s)).sum();
            (
                first,
                key,
                Element {
                    value,
                    sources: sources.into_iter().map(str::to_string).collect(),
                    support: share(trust, total_trust),
                },
            )
        })
        .collect();
    // Best-supported first, then in the order the best-ranked source gave them.
    elems.sort_by(|a, b| {
        b.2.support
            .total_cmp(&a.2.support)
            .then(a.0.cmp(&b.0))
            .then_with(|| a.1.cmp(&b.1))
    });
    let elements: Vec<Element> = elems.into_iter().map(|(_, _, e)| e).collect();
    let value = union_value(field, &elements);
    let confidence = if elements.is_empty() {
        1.0
    } else {
        share(
            elements.iter().map(|e| e.support).sum::<f64>(),
            elements.len() as f64,
        )
    };
    let best = &contenders[0];
    FieldValue {
        value,
        source: best.obs.source.clone(),
        tier: best.rank.tier,
        trust: best.rank.trust,
        confidence,
        conflict: false,
        elements,
    }
}

#[cfg(test)]
mod tests {
    //! Given candidates of one entity, when merged under the shipped policy, then …
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::TimeZone;
    use serde_json::json;
    use trustfold_events::CandidateFields;

    use super::*;
    use crate::policy::SHIPPED_POLICY;
    use crate::state::Override;

    const SOURCES: &[&str] = &[
        "serper",
        "google_places",
        "openstreetmap",
        "sport_scotland",
        "edinburgh_council",
        "open_charge_map",
    ];

    fn policy() -> TrustPolicy {
        TrustPolicy::parse(SHIPPED_POLICY, "trust.toml", SOURCES).unwrap()
    }

    fn cand(cid: &str, source: &str, seq: u64, fields: CandidateFields) -> Candidate {
        Candidate {
            candidate_id: cid.into(),
            observed_seq: Some(seq),
            observation: Some(Box::new(Observation {
                source: source.into(),
                external_id: format!("x{cid}"),
                fields,
                seq,
                recorded_at: Utc.timestamp_opt(1_700_000_000 + seq as i64, 0).unwrap(),
                run_id: Some("run-1".into()),
                trace_id: Some("trace-1".into()),
                payload_hash: trustfold_events::BlobHash::of(&seq.to_le_bytes()),
            })),
            entity_id: Some("e_1".into()),
            follows: None,
            decided_by: Some("matcher".into()),
            source: Some(source.into()),
            ..Candidate::default()
        }
    }

    fn entity(members: &[&Candidate]) -> EntityState {
        EntityState {
            entity_id: "e_1".into(),
            slug: "place".into(),
            founded_seq: 1,
            members: members.iter().map(|c| c.candidate_id.clone()).collect(),
            overrides: BTreeMap::new(),
            updated_seq: 9,
        }
    }

    fn merge(members: &[&Candidate]) -> MergedEntity {
        merge_entity(&entity(members), members, &policy())
    }

    fn phone(p: &str) -> CandidateFields {
        CandidateFields {
            phone: Some(p.into()),
            ..CandidateFields::default()
        }
    }

    fn rows(m: &MergedEntity, f: Field) -> Vec<&ProvenanceRow> {
        m.provenance.iter().filter(|r| r.field == f).collect()
    }

    #[test]
    fn given_two_sources_when_merged_then_the_higher_trust_wins_and_the_loser_says_why() {
        let g = cand("c1", "google_places", 5, phone("+441310000001"));
        let s = cand("c2", "serper", 6, phone("+441310000002"));
        let m = merge(&[&g, &s]);
        let v = &m.values[&Field::Phone];
        assert_eq!(v.value, json!("+441310000001"));
        assert_eq!(v.source, "google_places");
        let r = rows(&m, Field::Phone);
        assert!(r[0].winner && r[0].source == "google_places");
        assert_eq!(r[1].loss, Some(LossReason::LowerTier));
        // Confidence: google agrees with itself only: 0.95 / (0.95 + 0.75).
        assert_eq!(v.confidence, share(0.95, 0.95 + 0.75));
        assert!(!v.conflict, "0.20 apart is not a conflict");
    }

    #[test]
    fn given_an_excluded_field_then_the_source_never_supplies_it() {
        let o = cand("c1", "openstreetmap", 5, phone("+441310000001"));
        let m = merge(&[&o]);
        assert!(!m.values.contains_key(&Field::Phone));
        assert_eq!(rows(&m, Field::Phone)[0].loss, Some(LossReason::Excluded));
        let g = cand(
            "c2",
            "google_places",
            6,
            CandidateFields {
                categories: vec!["gym".into()],
                ..CandidateFields::default()
            },
        );
        let m = merge(&[&g]);
        assert!(
            !m.values.contains_key(&Field::Categories),
            "google_places is not used for categories"
        );
    }

    #[test]
    fn given_placeholders_then_they_count_as_missing() {
        let g = cand("c1", "google_places", 5, phone("N/A"));
        let s = cand("c2", "serper", 6, phone("+441310000002"));
        let m = merge(&[&g, &s]);
        assert_eq!(m.values[&Field::Phone].source, "serper");
        let r = rows(&m, Field::Phone);
        assert!(r
            .iter()
            .any(|r| r.source == "google_places" && r.loss == Some(LossReason::Placeholder)));
        let only = merge(&[&cand("c3", "google_places", 7, phone("—"))]);
        assert!(!only.values.contains_key(&Field::Phone));
        assert_eq!(only.completeness_present, 1, "only the candidate's own id");
    }

    #[test]
    fn given_equal_rank_then_the_newer_observation_wins_then_the_smaller_candidate_id() {
        let old = cand("c1", "serper", 5, phone("+441310000001"));
        let new = cand("c2", "serper", 9, phone("+441310000002"));
        let m = merge(&[&old, &new]);
        assert_eq!(m.values[&Field::Phone].value, json!("+441310000002"));
        assert_eq!(
            rows(&m, Field::Phone)[1].loss,
            Some(LossReason::OlderObservation)
        );
        let a = cand("c_a", "serper", 5, phone("+441310000001"));
        let b = cand("c_b", "serper", 5, phone("+441310000002"));
        let m = merge(&[&b, &a]);
        assert_eq!(m.values[&Field::Phone].value, json!("+441310000001"));
        assert_eq!(
            rows(&m, Field::Phone)[1].loss,
            Some(LossReason::CandidateIdTieBreak)
        );
    }

    #[test]
    fn given_a_preferred_source_then_it_beats_higher_trust_in_its_tier() {
        let sports = |s: &[&str]| CandidateFields {
            entity_class: Some(s[0].into()),
            ..CandidateFields::default()
        };
        let g = cand("c1", "google_places", 5, sports(&["gym"]));
        let ss = cand("c2", "sport_scotland", 6, sports(&["sports_centre"]));
        let m = merge(&[&g, &ss]);
        let v = &m.values[&Field::EntityClass];
        assert_eq!(
            v.source, "sport_scotland",
            "sport_scotland prefers entity_class"
        );
        assert_eq!(
            rows(&m, Field::EntityClass)[1].loss,
            Some(LossReason::NotPreferred)
        );
        assert!(v.conflict, "0.95 vs 0.90 disagree: a conflict");
    }

    #[test]
    fn given_near_trust_sources_that_disagree_then_the_field_is_a_conflict() {
        let g = cand("c1", "google_places", 5, phone("+441310000001"));
        let c = cand("c2", "edinburgh_council", 6, phone("+441310000002"));
        let m = merge(&[&g, &c]);
        assert!(m.values[&Field::Phone].conflict);
        assert_eq!(m.conflicts(), vec![Field::Phone]);
        // Agreeing values are no conflict, and raise confidence to 1.
        let c2 = cand("c3", "edinburgh_council", 6, phone("+44 131 000 0001"));
        let m = merge(&[&g, &c2]);
        assert!(!m.values[&Field::Phone].conflict);
        assert_eq!(m.values[&Field::Phone].confidence, 1.0);
    }

    #[test]
    fn given_multi_valued_fields_then_they_are_unions_with_each_elements_sources() {
        let f = |s: &[&str]| CandidateFields {
            sports: s.iter().map(|x| x.to_string()).collect(),
            ..CandidateFields::default()
        };
        let ss = cand("c1", "sport_scotland", 5, f(&["football", "tennis"]));
        let o = cand("c2", "openstreetmap", 6, f(&["football"]));
        let m = merge(&[&ss, &o]);
        let v = &m.values[&Field::Sports];
        assert_eq!(v.value, json!(["football", "tennis"]));
        assert_eq!(v.elements[0].sources, ["openstreetmap", "sport_scotland"]);
        assert_eq!(v.elements[0].support, 1.0);
        assert_eq!(v.elements[1].sources, ["sport_scotland"]);
        assert_eq!(v.elements[1].support, share(0.90, 0.90 + 0.70));
        // external_ids: every candidate's own id, by source.
        let ids = m.external_ids();
        assert_eq!(ids["sport_scotland"], ["xc1"]);
        assert_eq!(ids["openstreetmap"], ["xc2"]);
    }

    #[test]
    fn given_descriptions_then_the_longest_of_the_best_tier_wins() {
        let d = |t: &str| CandidateFields {
            description: Some(t.into()),
            ..CandidateFields::default()
        };
        let g = cand("c1", "google_places", 5, d("Short."));
        let ss = cand(
            "c2",
            "sport_scotland",
            6,
            d("A longer official description."),
        );
        let o = cand(
            "c3",
            "openstreetmap",
            7,
            d("The longest text of all, but from a crowdsourced source."),
        );
        let m = merge(&[&g, &ss, &o]);
        assert_eq!(m.values[&Field::Description].source, "sport_scotland");
        let r = rows(&m, Field::Description);
        assert_eq!(r[1].loss, Some(LossReason::ShorterText));
        assert_eq!(r[2].loss, Some(LossReason::LowerTier));
    }

    #[test]
    fn given_an_override_then_admin_beats_every_source_and_the_sources_show_overridden() {
        let g = cand("c1", "google_places", 5, phone("+441310000001"));
        let mut e = entity(&[&g]);
        e.overrides.insert(
            Field::Phone,
            Override {
                value: json!("+441310009999"),
                reason: "called them".into(),
                by: "ana".into(),
                seq: 12,
                recorded_at: Utc.timestamp_opt(1_700_000_100, 0).unwrap(),
            },
        );
        let m = merge_entity(&e, &[&g], &policy());
        let v = &m.values[&Field::Phone];
        assert_eq!((v.source.as_str(), v.tier), (ADMIN_SOURCE, Tier::Admin));
        assert_eq!(v.value, json!("+441310009999"));
        let r = rows(&m, Field::Phone);
        assert!(r[0].winner && r[0].note.as_deref() == Some("by ana: called them"));
        assert_eq!(r[1].loss, Some(LossReason::Overridden));
    }

    #[test]
    fn given_one_register_listing_a_site_many_times_then_it_is_one_voice() {
        let names = |n: &str| CandidateFields {
            name: Some(n.into()),
            ..CandidateFields::default()
        };
        let g = cand("c1", "google_places", 5, names("Leith Links Pitches"));
        let rows_of_register: Vec<Candidate> = (0..8)
            .map(|i| {
                cand(
                    &format!("c{}", i + 10),
                    "sport_scotland",
                    6,
                    names("Leith Links"),
                )
            })
            .collect();
        let mut members: Vec<&Candidate> = vec![&g];
        members.extend(rows_of_register.iter());
        let m = merge(&members);
        let v = &m.values[&Field::Name];
        assert_eq!(v.source, "google_places");
        // Two voices (0.95 and 0.90), not nine; "Leith Links" is within the longer name.
        assert_eq!(v.confidence, 1.0);
        let sources: BTreeSet<&str> = m.sources.iter().map(String::as_str).collect();
        assert_eq!(sources.len(), 2);
    }

    #[test]
    fn completeness_counts_twenty_key_fields_with_latitude_and_longitude_apart() {
        let full = CandidateFields {
            name: Some("A".into()),
            entity_class: Some("venue".into()),
            categories: vec!["pitch".into()],
            sports: vec!["football".into()],
            address_lines: vec!["1 Road".into()],
            locality: Some("Edinburgh".into()),
            postcode: Some("EH1 1AA".into()),
            country: Some("GB".into()),
            lat: Some(55.95),
            lon: Some(-3.19),
            phone: Some("+441310000000".into()),
            email: Some("a@b.c".into()),
            website: Some("https://a.example".into()),
            socials: [("facebook".to_string(), "https://fb.example/a".to_string())].into(),
            opening_hours: Some("Mo-Su 09:00-22:00".into()),
            ev: Some(trustfold_events::EvDetails {
                points: Some(2),
                ..Default::default()
            }),
            rating: Some(4.5),
            rating_count: Some(10),
            external_ids: BTreeMap::new(),
            description: Some("d".into()),
        };
        // sport_scotland: not excluded from categories, unlike google_places.
        let m = merge(&[&cand("c1", "sport_scotland", 5, full)]);
        assert_eq!(m.completeness_present, COMPLETENESS_FIELDS_TOTAL);
        assert_eq!(m.completeness_pct(), 100.0);
    }
}
