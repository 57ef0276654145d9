//! One module per subcommand.

pub mod corrections;
pub mod dev;
pub mod dlq;
pub mod entities;
pub mod events;
pub mod head;
pub mod import;
pub mod ingest;
pub mod migrate;
pub mod overrides;
pub mod plan;
pub mod provenance;
pub mod rebuild;
pub mod resume;
pub mod review;
pub mod runs;
pub mod serve;
pub mod verify;
