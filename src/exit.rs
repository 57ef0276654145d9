//! Exit codes, the part of the command-line contract scripts rely on:
//! 0 ok, 1 runtime failure, 2 bad usage or bad input, 3 integrity failure, 130 cancelled.

use std::fmt;

use trustfold_events::{BlobError, StoreError};

pub const OK: u8 = 0;
pub const RUNTIME_FAILURE: u8 = 1;
pub const BAD_INPUT: u8 = 2;
pub const INTEGRITY_FAILURE: u8 = 3;

/// An error caused by what the user passed (arguments, files, the data dir): exit 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// What the user named does not exist (an entity, a review, a run): exit 2 on the
/// command line, 404 over HTTP.
#[derive(Debug)]
pub struct NotFound(pub String);

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}

/// The request contradicts what the log already says (a review answered by someone else
/// first, an override to clear that is not there): exit 2 on the command line, 409 over
/// HTTP.
#[derive(Debug)]
pub struct Conflict(pub String);

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Conflict {}

/// Shorthand for returning a [`NotFound`] error.
pub fn not_found(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(NotFound(msg.into()))
}

/// Shorthand for returning a [`Conflict`] error.
pub fn conflict(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Conflict(msg.into()))
}

/// Shorthand for returning a [`BadInput`] error.
pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(msg.into()))
}

/// The data is not what it should be (a log missing beside its blobs and projections, a
/// log altered outside trustfold): exit 3, as `verify` does.
#[derive(Debug)]
pub struct IntegrityFailure(pub String);

impl fmt::Display for IntegrityFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IntegrityFailure {}

/// Shorthand for returning an [`IntegrityFailure`] error.
pub fn integrity_failure(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(IntegrityFailure(msg.into()))
}

/// The code for a library error: integrity (3), bad input (2), else a runtime failure (1).
fn classify(integrity: bool, bad_input: bool) -> u8 {
    if integrity {
        INTEGRITY_FAILURE
    } else if bad_input {
        BAD_INPUT
    } else {
        RUNTIME_FAILURE
    }
}

/// The exit code for an error that reached `main`. Environmental failures (a full disk,
/// read-only media, a lock held too long) are runtime failures (1), not bad input.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<crate::ingest::lifecycle::Cancelled>() {
            return crate::ingest::lifecycle::CANCELLED_EXIT_CODE;
        }
        if cause.is::<IntegrityFailure>() {
            return INTEGRITY_FAILURE;
        }
        // The run's own typed errors that the user caused: the run knows nothing of
        // exit codes, so the mapping is here.
        if cause.is::<BadInput>()
            || cause.is::<NotFound>()
            || cause.is::<Conflict>()
            || cause.is::<crate::ingest::lifecycle::RunBusy>()
            || cause.is::<crate::ingest::transports::BadTransportSetting>()
        {
            return BAD_INPUT;
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return classify(e.is_integrity(), e.is_bad_input());
        }
        if let Some(e) = cause.downcast_ref::<trustfold_projections::ProjectionError>() {
            return classify(e.is_integrity(), e.is_bad_input());
        }
        if let Some(e) = cause.downcast_ref::<BlobError>() {
            return classify(e.is_integrity(), e.is_bad_input());
        }
    }
    RUNTIME_FAILURE
}
