//! `trustfold review list|show|approve|reject`: the questions the pipeline put to a person,
//! and their answers. An answer is authoritative and recorded as events: approving an
//! ambiguous match appends the `MergeDecided` into the entity; rejecting it founds a new
//! entity for the record. Both carry `decided_by = review:<id>` into provenance.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Value};
use trustfold_events::{
    derived_event_id, format_time, AppendBatch, EventPayload, EventStore, ExpectedVersion,
    MergeDecided, MergeOutcome, NewEvent, ReviewDecision, ReviewReason, ReviewResolved, StoreError,
};
use trustfold_projections::state::{Candidate, ReviewRow};
use trustfold_projections::{MergedEntity, ProjectionDb};

use crate::cmd::entities::clip;
use crate::cmd::overrides::{actor, reason};
use crate::datadir::{DataDir, Place};
use crate::exit::bad_input;
use crate::project;
use crate::resolve::{entity_id_for, MATCHER_VERSION};

#[derive(Debug, clap::Subcommand)]
pub enum ReviewCommand {
    /// Open reviews (all of them with --all).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// One review: the question, the record, the candidate entities.
    Show {
        review_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Accept: the record joins the entity (the first candidate entity, or --entity).
    Approve(Decide),
    /// Refuse: the record becomes an entity of its own.
    Reject(Decide),
}

#[derive(Debug, clap::Args)]
pub struct Decide {
    pub review_id: String,
    /// Why (kept in the log).
    #[arg(long)]
    pub reason: String,
    /// Who (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    /// For approve: which of the candidate entities the record joins.
    #[arg(long)]
    pub entity: Option<String>,
}

fn reason_name(r: ReviewReason) -> &'static str {
    match r {
        ReviewReason::AmbiguousMatch => "ambiguous_match",
        ReviewReason::BudgetOverrun => "budget_overrun",
        ReviewReason::FieldConflict => "field_conflict",
    }
}

fn status(r: &ReviewRow) -> &'static str {
    trustfold_projections::db::review_status(r)
}

pub fn run(data_dir: &Place, trust: Option<&Path>, cmd: ReviewCommand) -> Result<ExitCode> {
    let policy = project::load_policy(trust, data_dir)?;
    match cmd {
        ReviewCommand::List { all, json } => {
            let db = project::open_for_reading(data_dir, &policy)?;
            let reviews = db.reviews(all)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reviews)?);
            } else if reviews.is_empty() {
                println!("no {}reviews", if all { "" } else { "open " });
            } else {
                println!(
                    "{:<26}  {:<16}  {:<9}  {:<20}  DETAIL",
                    "REVIEW", "REASON", "STATUS", "REQUESTED"
                );
                for r in &reviews {
                    println!(
                        "{:<26}  {:<16}  {:<9}  {:<20}  {}",
                        r.review_id,
                        reason_name(r.reason),
                        status(r),
                        format_time(&r.requested_at)
                            .chars()
                            .take(19)
                            .collect::<String>(),
                        clip(&r.detail, 90)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ReviewCommand::Show { review_id, json } => {
            let db = project::open_for_reading(data_dir, &policy)?;
            let store = project::log_for_reading(data_dir)?;
            let shown = review_view(&db, &*store, &review_id)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&review_document(&shown))?
                );
                return Ok(ExitCode::SUCCESS);
            }
            let ReviewView {
                review: r,
                candidate,
                entities,
                ..
            } = shown;
            println!(
                "review {} ({}, {})",
                r.review_id,
                reason_name(r.reason),
                status(&r)
            );
            println!("  {}", r.detail);
            if let Some(res) = &r.resolution {
                println!("  answered by {}: {} (seq {})", res.by, res.reason, res.seq);
            }
            if let Some(c) = candidate.as_ref().and_then(|c| c.observation.as_ref()) {
                println!(
                    "  record: {} from {} ({}), {}",
                    c.fields.name.as_deref().unwrap_or("(no name)"),
                    c.source,
                    c.external_id,
                    [
                        c.fields.address_lines.join(", "),
                        c.fields.postcode.clone().unwrap_or_default()
                    ]
                    .join(" ")
                    .trim()
                );
            }
            for m in &entities {
                println!(
                    "  candidate entity: {} ({}) from {}; {}",
                    m.name().unwrap_or("(no name)"),
                    m.slug,
                    m.sources.join(", "),
                    m.text(trustfold_projections::Field::Address).unwrap_or("")
                );
            }
            if r.decision.is_none() {
                println!(
                    "  answer with: trustfold review approve {id} --reason R   or   \
                     trustfold review reject {id} --reason R",
                    id = r.review_id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ReviewCommand::Approve(d) => decide(data_dir, &policy, d, ReviewDecision::Approved),
        ReviewCommand::Reject(d) => decide(data_dir, &policy, d, ReviewDecision::Rejected),
    }
}

/// One review with what a person needs to answer it.
pub struct ReviewView {
    pub review: ReviewRow,
    /// The record in question, with its latest observation.
    pub candidate: Option<Candidate>,
    /// The entities it might belong to.
    pub entities: Vec<MergedEntity>,
    /// The matcher's decision to ask (score and features), from the review's stream.
    pub evidence: Option<Value>,
}

/// Reads one review (`review show`, `GET /api/reviews/{id}`); a missing one is
/// [`NotFound`](crate::exit::NotFound).
pub fn review_view(
    db: &ProjectionDb,
    store: &dyn EventStore,
    review_id: &str,
) -> Result<ReviewView> {
    let r = db.review(review_id)?.ok_or_else(|| no_review(review_id))?;
    let candidate = match &r.candidate_id {
        Some(c) => db.candidate_observed(c, store)?,
        None => None,
    };
    let mut entities = Vec::new();
    for e in &r.entity_ids {
        if let Some((m, _)) = db.entity(e)? {
            entities.push(m);
        }
    }
    let evidence = store
        .read_stream(&format!("review/{}", r.review_id))?
        .iter()
        .find_map(|ev| match &ev.payload {
            EventPayload::MergeDecided(m) => Some(crate::cmd::provenance::decision_json(ev.seq, m)),
            _ => None,
        });
    Ok(ReviewView {
        review: r,
        candidate,
        entities,
        evidence,
    })
}

/// The `review show --json` document: the review, the record, the candidate entities and
/// the matcher's evidence (each feature's similarity and what it added to the logit).
pub fn review_document(v: &ReviewView) -> Value {
    json!({
        "review": v.review,
        "status": status(&v.review),
        "candidate": v.candidate,
        "entities": v.entities.iter().map(crate::cmd::entities::entity_json).collect::<Vec<_>>(),
        "evidence": v.evidence,
    })
}

/// A person's answer to a review.
#[derive(Clone, Debug)]
pub struct Answer {
    pub review_id: String,
    pub decision: ReviewDecision,
    /// Why (kept in the log), checked by [`reason`].
    pub reason: String,
    /// Who, checked by [`actor`].
    pub by: String,
    /// For an approval: which of the candidate entities the record joins (default: the
    /// first).
    pub entity: Option<String>,
}

/// What an answer recorded.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Answered {
    pub review_id: String,
    pub decision: ReviewDecision,
    /// The entity the record is now part of (for a match).
    pub entity_id: Option<String>,
    /// The seqs of the appended events.
    pub seqs: Vec<u64>,
}

/// Records `answer` in the log (`review approve|reject`, `POST /api/reviews/{id}/...`).
/// Answers are final: a review answered before, or by someone else between reading and
/// appending, is a [`Conflict`](crate::exit::Conflict) and nothing is appended. The caller
/// catches the projections up afterwards.
pub fn answer(db: &ProjectionDb, store: &dyn EventStore, answer: &Answer) -> Result<Answered> {
    let why = reason(&answer.reason)?;
    let by = actor(Some(&answer.by))?;
    let r = db
        .review(&answer.review_id)?
        .ok_or_else(|| no_review(&answer.review_id))?;
    if r.decision.is_some() {
        return Err(crate::exit::conflict(format!(
            "review {} was already answered ({}); answers are final",
            r.review_id,
            status(&r)
        )));
    }
    let decision = answer.decision;
    let stream = format!("review/{}", r.review_id);
    let mut batch = AppendBatch::new();
    let mut entity_id = None;
    if let (ReviewReason::AmbiguousMatch, Some(cid)) = (r.reason, &r.candidate_id) {
        let (eid, outcome, expect) = match decision {
            ReviewDecision::Approved => {
                let eid = match &answer.entity {
                    Some(e) => {
                        let (m, _) = db
                            .entity(e)?
                            .ok_or_else(|| bad_input(format!("--entity {e:?}: no such entity")))?;
                        m.entity_id
                    }
                    None => {
                        let named = r.entity_ids.first().ok_or_else(|| {
                            bad_input("the review names no candidate entity; pass --entity")
                        })?;
                        // An entity merged away since the review was opened answers to
                        // its survivor: the record joins the entity its match is in now,
                        // and the identity index files it there too (ADR 0009).
                        match db.entity(named)? {
                            Some((m, _)) => m.entity_id,
                            None => named.clone(),
                        }
                    }
                };
                (
                    eid.clone(),
                    MergeOutcome::ExistingEntity { entity_id: eid },
                    None,
                )
            }
            ReviewDecision::Rejected => {
                let eid = entity_id_for(cid);
                (
                    eid.clone(),
                    MergeOutcome::NewEntity { entity_id: eid },
                    Some(ExpectedVersion::NoStream),
                )
            }
        };
        let entity_stream = format!("entity/{eid}");
        batch = batch.push(
            NewEvent::new(
                &entity_stream,
                MergeDecided {
                    candidate_id: cid.clone(),
                    decision: outcome,
                    score: 1.0,
                    features: Default::default(),
                    matcher_version: MATCHER_VERSION.to_string(),
                    decided_by: format!("review:{}", r.review_id),
                },
            )
            .with_id(derived_event_id(&[
                "MergeDecided",
                cid,
                "review",
                &r.review_id,
            ])),
        );
        if let Some(e) = expect {
            batch = batch.expect(&entity_stream, e);
        }
        entity_id = Some(eid);
    }
    let resolved = NewEvent::new(
        &stream,
        ReviewResolved {
            review_id: r.review_id.clone(),
            decision,
            reason: why,
            by,
            entity_id: entity_id.clone(),
        },
    )
    .with_id(derived_event_id(&["ReviewResolved", &r.review_id]));
    // The review stream holds the question (and, for a match, the matcher's decision to
    // ask). Expecting the version read now makes two people answering at once a conflict
    // for the second, not two answers.
    let version = store.stream_version(&stream)?;
    batch = batch
        .push(resolved)
        .expect(&stream, ExpectedVersion::Exact(version));
    let appended = match store.append(batch) {
        Ok(a) if a.already_present => {
            return Err(crate::exit::conflict(format!(
                "review {} was already answered; answers are final",
                r.review_id
            )))
        }
        Ok(a) => a,
        // Two answers at once: the other one's `ReviewResolved` (same derived id) or its
        // new stream version got there first.
        Err(StoreError::Conflict { stream: s, .. }) if s == stream => {
            return Err(crate::exit::conflict(format!(
                "review {} was answered by someone else just now; see `trustfold review show {}`",
                r.review_id, r.review_id
            )))
        }
        Err(StoreError::IdReused { .. } | StoreError::PartiallyPresent { .. }) => {
            return Err(crate::exit::conflict(format!(
                "review {} was answered by someone else just now; see `trustfold review show {}`",
                r.review_id, r.review_id
            )))
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Answered {
        review_id: r.review_id,
        decision,
        entity_id,
        seqs: appended.seqs,
    })
}

fn no_review(id: &str) -> anyhow::Error {
    crate::exit::not_found(format!(
        "no review {:?} (see `trustfold review list --all`)",
        id.chars().take(60).collect::<String>()
    ))
}

fn decide(
    data_dir: &Place,
    policy: &trustfold_projections::TrustPolicy,
    d: Decide,
    decision: ReviewDecision,
) -> Result<ExitCode> {
    let by = actor(d.by.as_deref())?;
    let db = project::open_for_reading(data_dir, policy)?;
    let dir = DataDir::writable(data_dir)?;
    let store = dir.write_log()?;
    let answered = answer(
        &db,
        &*store,
        &Answer {
            review_id: d.review_id,
            decision,
            reason: d.reason,
            by,
            entity: d.entity,
        },
    )?;
    drop(db);
    project::catch_up(&dir, &*store, policy, false)?;
    let verb = match decision {
        ReviewDecision::Approved => "approved",
        ReviewDecision::Rejected => "rejected",
    };
    match answered.entity_id {
        Some(e) => println!(
            "review {} {verb}: the record is now part of {e}",
            answered.review_id
        ),
        None => println!("review {} {verb}", answered.review_id),
    }
    Ok(ExitCode::SUCCESS)
}
