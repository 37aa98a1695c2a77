//! The audit of the event log: reading it with filters in commit order
//! ([`query`]), and its tamper evidence — a hash chain over every event in
//! commit order ([`chain`]), written by the [`sealer`], whose head is
//! published to a stream of its own ([`heads`]), and checked by [`verify`].

pub mod chain;
pub mod heads;
pub mod query;
pub mod sealer;
pub mod verify;
