//! One module per subcommand.

pub mod dev;
pub mod events;
pub mod plan;
pub mod verify;
