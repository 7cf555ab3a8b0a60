//! The photo pipeline, in the order the data flows: [`discover`] the folder, [`matching`]
//! against the CSV, [`prepare`] the work list, [`make`] each photo (rayon), [`upload`]
//! them (tokio); [`rows`] is where a row gets its status, [`guard`] keeps outputs off
//! the inputs. Uses process, graph, tenant, state, report, config and util.

pub mod discover;
pub mod guard;
pub mod make;
pub mod matching;
pub mod prepare;
pub mod rows;
pub mod same;
pub mod upload;
