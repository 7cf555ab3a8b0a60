//! Integration tests: the real `m365-photos` binary, driven from the outside (one test
//! binary, as ripgrep does; helpers in `util`).

mod util;

mod cli;
mod crop;
mod process;
