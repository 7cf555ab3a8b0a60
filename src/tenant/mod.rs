//! Managing what is already in the tenant: locking photo changes, and backing up,
//! removing and restoring users' current photos.

pub mod backup;
pub mod lock;
pub mod owa;
pub mod roles;
pub mod run;
pub mod users;
