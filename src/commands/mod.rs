//! One module per subcommand: each wires the stages together for its job.

pub mod plan;
pub mod prepare;
pub mod process;
