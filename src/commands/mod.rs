//! One module per subcommand: each `run` takes its validated config and returns what it
//! did (a [`Done`]: the report and the lines around its summary); [`finish`] writes the
//! report files and prints the summary; [`session`] builds the runtime and signs in.
//! Uses pipeline, tenant, state, report, graph, output, config and util; never the
//! command line.

mod backup;
mod demo;
mod doctor;
mod finish;
mod lock;
mod plan;
mod process;
mod rehearse;
mod remove;
mod restore;
mod session;
mod status;
mod upload;

pub use finish::Done;

use crate::config::{Command, ConfigError, exit};
use crate::graph::PreflightError;
use crate::output::Output;
use crate::pipeline::upload::UploadError;
use crate::state::StateError;
use crate::tenant::backup::BackupError;
use crate::tenant::users::TargetsError;

/// Why a command stopped; its exit code says whether the user or the run is to blame.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Upload(#[from] UploadError),
    #[error(transparent)]
    Targets(#[from] TargetsError),
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}

impl RunError {
    /// 2 for what the user must fix before anything can run; 1 for a run that failed.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Config(e) => e.exit_code(),
            RunError::State(e) => e.exit_code(),
            RunError::Preflight(e) => e.exit_code(),
            RunError::Backup(e) => e.exit_code(),
            RunError::Upload(e) => e.exit_code(),
            RunError::Targets(TargetsError::Config(e)) => e.exit_code(),
            RunError::Targets(TargetsError::Listing(_)) => exit::SOME_FAILED,
            RunError::Failed(_) => exit::SOME_FAILED,
        }
    }

    pub(crate) fn failed(e: impl std::fmt::Display) -> RunError {
        RunError::Failed(anyhow::anyhow!("{e}"))
    }
}

/// Runs one command and returns its exit code.
pub fn run(command: &Command, out: &Output) -> Result<i32, RunError> {
    use finish::Exports;
    let (exports, done) = match command {
        Command::Plan(opts) => (Exports::of(opts)?, plan::run(opts, out)?),
        Command::Process(opts) => (Exports::of(opts)?, process::run(opts, out)?),
        Command::Upload(c) => (Exports::of(&c.opts)?, upload::run(c, out)?),
        Command::Backup(c) => (Exports::report(c.report.as_deref())?, backup::run(c, out)?),
        Command::Remove(c) => (Exports::report(c.report.as_deref())?, remove::run(c, out)?),
        Command::Restore(c) => (Exports::report(c.report.as_deref())?, restore::run(c, out)?),
        Command::Status(c) => (Exports::report(c.report.as_deref())?, status::run(c, out)?),
        Command::Demo(c) => match c.rehearse {
            Some(r) => return rehearse::run(&c.out, r, out),
            None => return demo::run(c, out),
        },
        Command::Emulator(c) => {
            return crate::emulator::run_foreground((**c).clone())
                .map(|()| exit::OK)
                .map_err(RunError::Failed);
        }
        Command::Lock(c) => return lock::run_lock(c, out),
        Command::LockStatus(c) => return lock::run_status(c, out),
        Command::Doctor(c) => return doctor::run(c, out),
    };
    finish::finish(done, &exports, out)
}
