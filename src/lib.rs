//! m365-photos: match HR photos to Microsoft 365 users, make them Microsoft 365-ready
//! (oriented, face-cropped, 648 px, clean sRGB JPEG under a byte budget) and upload them
//! through Microsoft Graph.
//!
//! Layers, each using only those below it (README "Code map"; `scripts/check-layers.sh`
//! keeps it): [`cli`] (clap -> [`config`]) -> `commands` (one per subcommand) ->
//! [`pipeline`] (discover -> match -> make -> upload), [`tenant`], [`state`], [`report`],
//! [`graph`], [`output`], [`emulator`] -> [`process`] (the image work), [`config`],
//! [`util`].

pub mod cli;
mod commands;
pub mod config;
pub mod emulator;
pub mod graph;
pub mod output;
pub mod pipeline;
pub mod process;
pub mod report;
pub mod state;
pub mod tenant;
pub mod util;

pub use commands::{Done, RunError, run as run_command};

/// Runs the command line and returns the process exit code (0, 1, 2, or 130 when
/// interrupted).
pub fn run() -> i32 {
    cli::run()
}
