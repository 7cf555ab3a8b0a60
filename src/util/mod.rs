//! Plumbing every layer may use and that knows nothing of photos or Graph: atomic file
//! writes, safe file names, the clock, the tokio runtime and Ctrl-C.

pub mod fs;
pub mod names;
pub mod runtime;
pub mod signals;
pub mod time;
