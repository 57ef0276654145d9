//! One module per subcommand.

pub mod dev;
pub mod dlq;
pub mod events;
pub mod import;
pub mod ingest;
pub mod plan;
pub mod verify;
