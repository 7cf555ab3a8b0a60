//! One module per subcommand: each wires the stages together for its job.

pub mod demo;
pub mod guard;
pub mod plan;
pub mod prepare;
pub mod process;
pub mod upload;
// Tenant commands (issue 5).
pub mod backup;
pub mod lock;
pub mod remove;
pub mod restore;
pub mod status;
