//! The Postgres event log as the rest of the platform reads it, with no
//! NATS involved: the event record (the audit item of API.md and the body of
//! every JetStream message), its place in commit order, reading the log in
//! that order below the release bound ([`record`]), and the audit's reads
//! with filters and its hash chain ([`audit`]). The relay, the sealer and
//! verify (in `comics-nats`) and the rebuilds (in `comics-projections`)
//! build on it.
#![forbid(unsafe_code)]

pub mod audit;
pub mod record;

pub use record::{CommitCursor, EventRecord};
