//! Exit codes, the part of the command-line contract scripts rely on:
//! 0 ok, 1 runtime failure, 2 bad usage or bad input, 3 integrity failure.

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

/// The exit code for an error that reached `main`.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<crate::ingest::lifecycle::Cancelled>() {
            return crate::ingest::lifecycle::CANCELLED_EXIT_CODE;
        }
        if cause.is::<BadInput>() || cause.is::<NotFound>() || cause.is::<Conflict>() {
            return BAD_INPUT;
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return if e.is_bad_input() {
                BAD_INPUT
            } else {
                RUNTIME_FAILURE
            };
        }
        if let Some(e) = cause.downcast_ref::<trustfold_projections::ProjectionError>() {
            return if e.is_bad_input() {
                BAD_INPUT
            } else {
                RUNTIME_FAILURE
            };
        }
        if let Some(e) = cause.downcast_ref::<BlobError>() {
            return if e.is_bad_input() {
                BAD_INPUT
            } else {
                RUNTIME_FAILURE
            };
        }
    }
    RUNTIME_FAILURE
}
