//! `--as-of`: an entity as the log described it at a past point, folded on demand with
//! the same [`apply`] and [`merge_entity`] as the stored projections.

use chrono::{DateTime, Utc};
use trustfold_events::{EventStore, StoreError};

use crate::merge::{merge_entity, MergedEntity};
use crate::policy::TrustPolicy;
use crate::state::{apply, Candidate, ProjectionEvent, State};

/// A point in the log: a seq, or a time (the last event recorded at or before it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AsOf {
    Seq(u64),
    Time(DateTime<Utc>),
}

/// The entity folded from the events up to `as_of`, with the last seq folded; `None` when
/// the entity did not exist yet at that point.
pub fn entity_as_of(
    store: &dyn EventStore,
    entity_id: &str,
    as_of: AsOf,
    policy: &TrustPolicy,
) -> Result<(Option<MergedEntity>, u64), StoreError> {
    let mut state = State::default();
    let mut last = 0;
    for ev in store.read_raw_from(1) {
        let ev = ev?;
        let past = match as_of {
            AsOf::Seq(s) => ev.seq > s,
            AsOf::Time(t) => ev.recorded_at > t,
        };
        if past {
            break;
        }
        let pe = ProjectionEvent::from_stored(&ev).map_err(|source| StoreError::Decode {
            seq: ev.seq,
            source,
        })?;
        apply(&mut state, pe);
        last = ev.seq;
    }
    let Some(entity) = state.entities.get(entity_id) else {
        return Ok((None, last));
    };
    let members: Vec<&Candidate> = entity
        .members
        .iter()
        .filter_map(|c| state.candidates.get(c))
        .collect();
    Ok((Some(merge_entity(entity, &members, policy)), last))
}
