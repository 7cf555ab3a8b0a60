//! Integration tests: the real `m365-photos` binary, driven from the outside (one test
//! binary, as ripgrep does; helpers in `util`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

mod browser;
mod cli;
mod crop;
mod demo;
mod directory;
mod doctor;
mod emulator;
mod face_pipeline;
mod graph_safety;
mod guards;
mod hardening;
#[cfg(feature = "heic")]
mod heic;
mod hostile;
mod identity;
mod preflight;
mod process;
mod settings;
mod state;
mod tenant;
mod upload;
