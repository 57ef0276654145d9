//! `trustfold split` and `trustfold merge`: a person corrects identity (ADR 0009).
//!
//! A correction is one more decided fact. Each appends, in one all-or-nothing batch, the
//! `MergeDecided` events that move the records (so the projections, the persisted
//! identity index and its full-scan oracle fold it like any decision, and the matcher,
//! which decides a record once, never undoes it), then the correction itself
//! (`EntitySplit` in the stream of the entity the record left, `EntitiesMerged` in the
//! stream of the entity that ends) with who and why. The batch expects the versions of
//! every entity stream it changes, read when the correction was checked: of two people
//! correcting one entity at once, the second gets a [`Conflict`](crate::exit::Conflict)
//! (exit 2, 409) and nothing of theirs is appended.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Value};
use trustfold_events::{
    derived_event_id, AppendBatch, EntitiesMerged, EntitySplit, EventStore, ExpectedVersion,
    MergeDecided, MergeOutcome, NewEvent, StoreError,
};
use trustfold_projections::state::{Candidate, EntityState};
use trustfold_projections::{MergedEntity, ProjectionDb};

use crate::cmd::overrides::{actor, reason};
use crate::datadir::{DataDir, Place};
use crate::exit::{bad_input, conflict, not_found};
use crate::project;
use crate::resolve::{entity_id_for_split, MATCHER_VERSION};

/// Records one merge may move: every one is a `MergeDecided` of the merge's batch, which
/// must fit in one append (`BATCH_EVENTS_MAX`, with the `EntitiesMerged`).
pub const MERGE_MEMBERS_MAX: usize = trustfold_events::limits::BATCH_EVENTS_MAX - 1;

/// Characters of a user's input echoed in an error message.
const ECHO_CHARS_MAX: usize = 80;

/// The failpoint stage between checking a correction and appending it (tests race two
/// corrections there: `TRUSTFOLD_FAILPOINT=sleep:correction:MS`).
pub const FAILPOINT_STAGE: &str = "correction";

fn echo(s: &str) -> String {
    s.chars().take(ECHO_CHARS_MAX).collect()
}

/// `split` as asked (`trustfold split`, `POST /api/splits`).
#[derive(Clone, Debug)]
pub struct SplitRequest {
    /// The entity (id, unique prefix, slug, or an alias of it).
    pub entity: String,
    pub candidate: String,
    /// The entity to join instead of founding one.
    pub into: Option<String>,
    pub reason: String,
    pub by: String,
}

/// What a split recorded.
#[derive(Clone, Debug)]
pub struct Split {
    pub entity_id: String,
    pub candidate_id: String,
    /// The records that moved: the candidate and the records that repeat it.
    pub moved: Vec<String>,
    pub into_entity_id: String,
    pub new_entity: bool,
    pub seqs: Vec<u64>,
}

/// `merge` as asked (`trustfold merge`, `POST /api/merges`).
#[derive(Clone, Debug)]
pub struct MergeRequest {
    pub entity: String,
    pub other: String,
    pub reason: String,
    pub by: String,
}

/// What a merge recorded.
#[derive(Clone, Debug)]
pub struct Merged {
    pub entity_id: String,
    pub merged_entity_id: String,
    pub merged_slug: String,
    pub moved: Vec<String>,
    pub seqs: Vec<u64>,
}

fn entity_of(db: &ProjectionDb, key: &str, what: &str) -> Result<(MergedEntity, EntityState)> {
    db.entity(key)?.ok_or_else(|| {
        not_found(format!(
            "{what} {:?}: no such entity (pass an entity id, a unique id prefix or a slug; \
             see `trustfold entities`)",
            echo(key)
        ))
    })
}

/// The version of `entity/<id>`, checked against the projections the correction was
/// checked on (`checked_at`: their checkpoint when the checks began, read before them): a
/// stream with events past it means the check read an older entity (another correction
/// landed meanwhile, and the projections may have caught up with it since), and the caller
/// should look again.
fn stream_version(store: &dyn EventStore, checked_at: u64, entity_id: &str) -> Result<u64> {
    let stream = format!("entity/{entity_id}");
    let events = store.read_stream(&stream)?;
    if events.last().is_some_and(|ev| ev.seq > checked_at) {
        return Err(conflict(format!(
            "entity {entity_id} was changed by someone else just now; nothing was \
             recorded: look at it again (`trustfold provenance`) and retry"
        )));
    }
    Ok(events.len() as u64)
}

/// The members of `entity` that move with `leader`: it and, transitively, the records
/// that repeat it at the same site (the projections move them with it).
fn with_repeats(members: &[Candidate], leader: &str) -> Vec<String> {
    let mut out = vec![leader.to_string()];
    let mut i = 0;
    while i < out.len() {
        for m in members {
            if m.follows.as_deref() == Some(out[i].as_str()) && !out.contains(&m.candidate_id) {
                out.push(m.candidate_id.clone());
            }
        }
        i += 1;
    }
    out
}

fn members_of(db: &ProjectionDb, state: &EntityState) -> Result<Vec<Candidate>> {
    let mut out = Vec::with_capacity(state.members.len());
    for cid in &state.members {
        if let Some(c) = db.candidate(cid)? {
            out.push(c);
        }
    }
    Ok(out)
}

/// Appends a correction's batch; a stream that moved on since the check, or the same
/// correction already recorded, is a [`Conflict`](crate::exit::Conflict).
fn append(store: &dyn EventStore, batch: AppendBatch, what: &str) -> Result<Vec<u64>> {
    let retry = || {
        conflict(format!(
            "{what} was changed by someone else just now; nothing was recorded: look at it \
             again (`trustfold provenance`) and retry"
        ))
    };
    match store.append(batch) {
        Ok(a) if a.already_present => Err(retry()),
        Ok(a) => Ok(a.seqs),
        Err(
            StoreError::Conflict { .. }
            | StoreError::IdReused { .. }
            | StoreError::PartiallyPresent { .. },
        ) => Err(retry()),
        Err(e) => Err(e.into()),
    }
}

/// The resolve lock the runs decide identity under (`projections/RESOLVE.LOCK`, or its
/// PostgreSQL advisory lock), held from a correction's reading of the stream versions to
/// its append.
fn resolve_turn(store: &dyn EventStore) -> Result<crate::resolve::store::ResolveGuard> {
    Ok(crate::resolve::store::IdentityStore::of_log(store).resolve_lock()?)
}

fn move_event(stream: &str, cid: &str, outcome: MergeOutcome, by: &str, id: &[&str]) -> NewEvent {
    NewEvent::new(
        stream,
        MergeDecided {
            candidate_id: cid.to_string(),
            decision: outcome,
            score: 1.0,
            features: Default::default(),
            matcher_version: MATCHER_VERSION.to_string(),
            decided_by: by.to_string(),
        },
    )
    .with_id(derived_event_id(id))
}

/// Checks and records a split: the record (with the records that repeat it) leaves the
/// entity and founds a new one, or joins `into`. The caller catches the projections up.
pub fn split(db: &ProjectionDb, store: &dyn EventStore, req: &SplitRequest) -> Result<Split> {
    let why = reason(&req.reason)?;
    let by = actor(Some(&req.by))?;
    let checked_at = db.meta()?.checkpoint_seq;
    let (from, state) = entity_of(db, &req.entity, "entity")?;
    let cand = db.candidate(&req.candidate)?.ok_or_else(|| {
        not_found(format!(
            "--candidate {:?}: no such candidate (see the members in `trustfold provenance {}`)",
            echo(&req.candidate),
            from.slug
        ))
    })?;
    let cid = cand.candidate_id.clone();
    if cand.entity_id.as_deref() != Some(from.entity_id.as_str()) {
        return Err(bad_input(format!(
            "--candidate {cid} is not a record of {} ({}); it is in {}",
            from.slug,
            from.entity_id,
            cand.entity_id.as_deref().unwrap_or("no entity")
        )));
    }
    if let Some(leader) = &cand.follows {
        return Err(bad_input(format!(
            "--candidate {cid} repeats record {leader} of the same source at the same site, \
             and goes where it goes: split {leader} instead"
        )));
    }
    let members = members_of(db, &state)?;
    let moved = with_repeats(&members, &cid);
    if moved.len() >= state.members.len() {
        return Err(bad_input(format!(
            "--candidate {cid} is all of {} (with the records repeating it): a split would \
             leave it empty; to join it to another entity, `trustfold merge`",
            from.slug
        )));
    }
    let into = match &req.into {
        Some(key) => {
            let (into, _) = entity_of(db, key, "--into")?;
            if into.entity_id == from.entity_id {
                return Err(bad_input(format!(
                    "--into {:?} is {} itself: the record is already there",
                    echo(key),
                    from.slug
                )));
            }
            Some(into)
        }
        None => None,
    };
    // Corrections and runs' identity decisions take turns: a run decides from an index
    // that includes every correction before it, and no correction lands between a run's
    // reading of the index and the append of its decisions.
    let _turn = resolve_turn(store)?;
    let v_from = stream_version(store, checked_at, &from.entity_id)?;
    let decided_by = format!("split:{}", from.entity_id);
    let version = v_from.to_string();
    let id_parts = ["MergeDecided", &cid, "split", &from.entity_id, &version];
    let (target, new_entity, expect, outcome) = match &into {
        Some(i) => {
            let v = stream_version(store, checked_at, &i.entity_id)?;
            (
                i.entity_id.clone(),
                false,
                ExpectedVersion::Exact(v),
                MergeOutcome::ExistingEntity {
                    entity_id: i.entity_id.clone(),
                },
            )
        }
        None => {
            let eid = entity_id_for_split(&cid, &from.entity_id, v_from);
            (
                eid.clone(),
                true,
                ExpectedVersion::NoStream,
                MergeOutcome::NewEntity { entity_id: eid },
            )
        }
    };
    let target_stream = format!("entity/{target}");
    let from_stream = format!("entity/{}", from.entity_id);
    let split_event = NewEvent::new(
        &from_stream,
        EntitySplit {
            entity_id: from.entity_id.clone(),
            candidate_id: cid.clone(),
            into_entity_id: target.clone(),
            new_entity,
            reason: why,
            by,
        },
    )
    .with_id(derived_event_id(&[
        "EntitySplit",
        &from.entity_id,
        &version,
    ]));
    let batch = AppendBatch::new()
        .push(move_event(
            &target_stream,
            &cid,
            outcome,
            &decided_by,
            &id_parts,
        ))
        .push(split_event)
        .expect(&target_stream, expect)
        .expect(&from_stream, ExpectedVersion::Exact(v_from));
    crate::ingest::lifecycle::failpoint(
        FAILPOINT_STAGE,
        &crate::ingest::lifecycle::Shutdown::new(),
    )?;
    let seqs = append(store, batch, &format!("entity {}", from.slug))?;
    Ok(Split {
        entity_id: from.entity_id,
        candidate_id: cid,
        moved,
        into_entity_id: target,
        new_entity,
        seqs,
    })
}

/// Checks and records a merge: every record of `other` joins `entity`, and `other`'s id
/// and slug name `entity` from then on. The caller catches the projections up.
pub fn merge(db: &ProjectionDb, store: &dyn EventStore, req: &MergeRequest) -> Result<Merged> {
    let why = reason(&req.reason)?;
    let by = actor(Some(&req.by))?;
    let checked_at = db.meta()?.checkpoint_seq;
    let (keep, _) = entity_of(db, &req.entity, "entity")?;
    let (gone, gone_state) = entity_of(db, &req.other, "other entity")?;
    if keep.entity_id == gone.entity_id {
        let via = match db.alias(&req.other)? {
            Some(_) => format!(" ({:?} was merged into it before)", echo(&req.other)),
            None if db.alias(&req.entity)?.is_some() => {
                format!(" ({:?} was merged into it before)", echo(&req.entity))
            }
            None => String::new(),
        };
        return Err(bad_input(format!(
            "cannot merge {} into itself{via}",
            keep.slug
        )));
    }
    if gone_state.members.len() > MERGE_MEMBERS_MAX {
        return Err(bad_input(format!(
            "{} has {} records; one merge moves at most {MERGE_MEMBERS_MAX}",
            gone.slug,
            gone_state.members.len()
        )));
    }
    let members = members_of(db, &gone_state)?;
    let ids: BTreeSet<&str> = members.iter().map(|m| m.candidate_id.as_str()).collect();
    // Records repeating another record of the entity move with it.
    let leaders: Vec<&Candidate> = members
        .iter()
        .filter(|m| m.follows.as_deref().is_none_or(|l| !ids.contains(l)))
        .collect();
    let _turn = resolve_turn(store)?;
    let v_keep = stream_version(store, checked_at, &keep.entity_id)?;
    let v_gone = stream_version(store, checked_at, &gone.entity_id)?;
    let keep_stream = format!("entity/{}", keep.entity_id);
    let gone_stream = format!("entity/{}", gone.entity_id);
    let decided_by = format!("merge:{}", gone.entity_id);
    let version = v_gone.to_string();
    let mut batch = AppendBatch::new();
    for m in &leaders {
        batch = batch.push(move_event(
            &keep_stream,
            &m.candidate_id,
            MergeOutcome::ExistingEntity {
                entity_id: keep.entity_id.clone(),
            },
            &decided_by,
            &[
                "MergeDecided",
                &m.candidate_id,
                "merge",
                &gone.entity_id,
                &version,
            ],
        ));
    }
    let moved: Vec<String> = members.iter().map(|m| m.candidate_id.clone()).collect();
    batch = batch
        .push(
            NewEvent::new(
                &gone_stream,
                EntitiesMerged {
                    entity_id: keep.entity_id.clone(),
                    merged_entity_id: gone.entity_id.clone(),
                    candidate_ids: moved.clone(),
                    reason: why,
                    by,
                },
            )
            // An entity ends once: a second merge of it is the same id.
            .with_id(derived_event_id(&["EntitiesMerged", &gone.entity_id])),
        )
        .expect(&keep_stream, ExpectedVersion::Exact(v_keep))
        .expect(&gone_stream, ExpectedVersion::Exact(v_gone));
    crate::ingest::lifecycle::failpoint(
        FAILPOINT_STAGE,
        &crate::ingest::lifecycle::Shutdown::new(),
    )?;
    let seqs = append(
        store,
        batch,
        &format!("entity {} or {}", keep.slug, gone.slug),
    )?;
    Ok(Merged {
        entity_id: keep.entity_id,
        merged_entity_id: gone.entity_id,
        merged_slug: gone.slug,
        moved,
        seqs,
    })
}

/// The `split --json` document (also the server's answer). It names only entities that
/// existed before the split, so it is the same before and after the catch-up.
pub fn split_document(db: &ProjectionDb, s: &Split) -> Result<Value> {
    Ok(json!({
        "entity_id": s.entity_id,
        "slug": db.entity(&s.entity_id)?.map(|(m, _)| m.slug),
        "candidate_id": s.candidate_id,
        "moved": s.moved,
        "into_entity_id": s.into_entity_id,
        "new_entity": s.new_entity,
        "seqs": s.seqs,
    }))
}

/// The `merge --json` document (also the server's answer).
pub fn merge_document(db: &ProjectionDb, m: &Merged) -> Result<Value> {
    Ok(json!({
        "entity_id": m.entity_id,
        "slug": db.entity(&m.entity_id)?.map(|(e, _)| e.slug),
        "merged_entity_id": m.merged_entity_id,
        "merged_slug": m.merged_slug,
        "moved": m.moved,
        "seqs": m.seqs,
    }))
}

#[derive(Debug, clap::Args)]
pub struct SplitArgs {
    /// The entity the record is wrongly part of: id (or unique prefix) or slug.
    pub entity: String,
    /// The record to take out (a candidate id, as `provenance --json` lists the members).
    #[arg(long)]
    pub candidate: String,
    /// Join this entity instead of founding a new one.
    #[arg(long)]
    pub into: Option<String>,
    /// Why (kept in the log and shown in provenance).
    #[arg(long)]
    pub reason: String,
    /// Who (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    /// Print what was recorded as JSON (the server's answer).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The entity that stays: id (or unique prefix) or slug.
    pub entity: String,
    /// The entity that ends: its records join ENTITY, its id and slug then name ENTITY.
    pub other: String,
    /// Why (kept in the log and shown in provenance).
    #[arg(long)]
    pub reason: String,
    /// Who (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    /// Print what was recorded as JSON (the server's answer).
    #[arg(long)]
    pub json: bool,
}

/// Opens what a correction needs, with the projections caught up first (the check reads
/// them; the append's expectations catch anything that lands after).
fn open(
    data_dir: &Place,
    trust: Option<&Path>,
) -> Result<(
    trustfold_projections::TrustPolicy,
    DataDir,
    Box<dyn EventStore>,
)> {
    let policy = project::load_policy(trust, data_dir)?;
    let dir = DataDir::writable(data_dir)?;
    let store = dir.write_log()?;
    project::catch_up(&dir, &*store, &policy, false)?;
    Ok((policy, dir, store))
}

pub fn run_split(data_dir: &Place, trust: Option<&Path>, args: SplitArgs) -> Result<ExitCode> {
    reason(&args.reason)?;
    let by = actor(args.by.as_deref())?;
    let (policy, dir, store) = open(data_dir, trust)?;
    let db = project::open_for_reading(data_dir, &policy)?;
    let done = split(
        &db,
        &*store,
        &SplitRequest {
            entity: args.entity,
            candidate: args.candidate,
            into: args.into,
            reason: args.reason,
            by,
        },
    )?;
    let doc = split_document(&db, &done)?;
    drop(db);
    project::catch_up(&dir, &*store, &policy, false)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        let db = project::open_for_reading(data_dir, &policy)?;
        let slug = |eid: &str| -> Result<String> {
            Ok(db
                .entity(eid)?
                .map_or_else(|| eid.to_string(), |(m, _)| m.slug))
        };
        println!(
            "{} left {} ({} record{}); it is now part of {} ({}){}",
            done.candidate_id,
            slug(&done.entity_id)?,
            done.moved.len(),
            if done.moved.len() == 1 { "" } else { "s" },
            slug(&done.into_entity_id)?,
            done.into_entity_id,
            if done.new_entity {
                ", a new entity"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_merge(data_dir: &Place, trust: Option<&Path>, args: MergeArgs) -> Result<ExitCode> {
    reason(&args.reason)?;
    let by = actor(args.by.as_deref())?;
    let (policy, dir, store) = open(data_dir, trust)?;
    let db = project::open_for_reading(data_dir, &policy)?;
    let done = merge(
        &db,
        &*store,
        &MergeRequest {
            entity: args.entity,
            other: args.other,
            reason: args.reason,
            by,
        },
    )?;
    let doc = merge_document(&db, &done)?;
    drop(db);
    project::catch_up(&dir, &*store, &policy, false)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "{} ({}, {} record{}) merged into {} ({}); its id and slug now name {}",
            done.merged_slug,
            done.merged_entity_id,
            done.moved.len(),
            if done.moved.len() == 1 { "" } else { "s" },
            doc["slug"].as_str().unwrap_or("?"),
            done.entity_id,
            doc["slug"].as_str().unwrap_or("?"),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The server's identity corrections: the same functions as the commands
/// (`web::identity::IdentityCorrections`, passed to `AppState::new` by `serve`).
#[derive(Debug, Default)]
pub struct Corrections;

impl crate::web::identity::IdentityCorrections for Corrections {
    fn split(
        &self,
        db: &ProjectionDb,
        store: &dyn EventStore,
        req: &crate::web::identity::SplitRequest,
    ) -> Result<Value> {
        let done = split(
            db,
            store,
            &SplitRequest {
                entity: req.entity.clone(),
                candidate: req.candidate_id.clone(),
                into: req.into.clone(),
                reason: req.reason.clone(),
                by: req.by.clone(),
            },
        )?;
        split_document(db, &done)
    }

    fn merge(
        &self,
        db: &ProjectionDb,
        store: &dyn EventStore,
        req: &crate::web::identity::MergeRequest,
    ) -> Result<Value> {
        let done = merge(
            db,
            store,
            &MergeRequest {
                entity: req.entity.clone(),
                other: req.other.clone(),
                reason: req.reason.clone(),
                by: req.by.clone(),
            },
        )?;
        merge_document(db, &done)
    }
}
