//! The plug for identity corrections (`trustfold split` / `trustfold merge`, issue 14):
//! splitting a member record out of an entity, and merging another entity into one. The
//! routes (`POST /api/splits`, `POST /api/merges`) and the entity page's controls are
//! built against [`IdentityCorrections`]; `cmd::corrections::Corrections` implements it
//! with the functions the commands call, and `cmd/serve.rs` passes it to
//! [`AppState::new`](super::AppState::new). [`NotYetAvailable`] (501, `{"error": "not
//! available in this build yet"}`) remains for embedders that leave corrections out.

use serde::Deserialize;
use serde_json::Value;
use trustfold_events::EventStore;
use trustfold_projections::ProjectionDb;

use super::error::NotAvailable;

/// `POST /api/splits`: take one member record out of an entity (it founds its own, or
/// joins `into`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitRequest {
    /// The entity (id, unique prefix or slug).
    pub entity: String,
    /// The member record to take out.
    pub candidate_id: String,
    /// The entity it joins instead of founding its own (`split --into`).
    #[serde(default)]
    pub into: Option<String>,
    pub reason: String,
    pub by: String,
}

/// `POST /api/merges`: merge entity `other` into `entity` (its records join it).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The entity that stays.
    pub entity: String,
    /// The entity whose records join it.
    pub other: String,
    pub reason: String,
    pub by: String,
}

/// Identity corrections as the server calls them: each appends its events to `store`
/// (checked against what `db` says) and returns the command's `--json` document; the
/// server catches the projections up after. Errors are typed as elsewhere (`NotFound`,
/// `Conflict`, `BadInput` from `crate::exit`).
pub trait IdentityCorrections: Send + Sync {
    fn split(
        &self,
        db: &ProjectionDb,
        store: &dyn EventStore,
        req: &SplitRequest,
    ) -> anyhow::Result<Value>;

    fn merge(
        &self,
        db: &ProjectionDb,
        store: &dyn EventStore,
        req: &MergeRequest,
    ) -> anyhow::Result<Value>;
}

/// This build has no identity corrections yet: both answer "not available" (501).
#[derive(Debug, Default)]
pub struct NotYetAvailable;

impl IdentityCorrections for NotYetAvailable {
    fn split(
        &self,
        _: &ProjectionDb,
        _: &dyn EventStore,
        _: &SplitRequest,
    ) -> anyhow::Result<Value> {
        Err(NotAvailable.into())
    }

    fn merge(
        &self,
        _: &ProjectionDb,
        _: &dyn EventStore,
        _: &MergeRequest,
    ) -> anyhow::Result<Value> {
        Err(NotAvailable.into())
    }
}
