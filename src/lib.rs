//! m365-photos: match HR photos to Microsoft 365 users, make them Microsoft 365-ready
//! (oriented, face-cropped, 648 px, clean sRGB JPEG under a byte budget) and upload them
//! through Microsoft Graph.
//!
//! The data flows through one module per stage:
//! [`discover`] (walk the folder) -> [`matching`] (CSV users) -> [`process`] (decode,
//! orient, crop, resize, encode) -> [`upload`] (Graph) -> [`report`] (CSV, JSON, HTML).
//! [`graph`] is the Graph client, [`emulator`] a local Graph stand-in, [`state`] the run
//! database and [`cli`] turns arguments into [`options::Options`].

pub mod cli;
pub mod commands;
pub mod discover;
pub mod emulator;
pub mod error;
pub mod graph;
pub mod interrupt;
pub mod matching;
pub mod options;
pub mod output;
pub mod process;
pub mod report;
pub mod state;
pub mod tenant;
pub mod upload;

/// Runs the command line and returns the process exit code (0, 1, 2, or 130 when
/// interrupted).
pub fn run() -> i32 {
    cli::run()
}
