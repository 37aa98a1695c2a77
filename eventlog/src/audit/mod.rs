//! The audit's part that needs only the log: reading it with filters in
//! commit order ([`query`]) and the hash chain over every event in commit
//! order ([`chain`]). The sealer that writes the chain, the published heads
//! and verify are in `comics_nats::audit`.

pub mod chain;
pub mod filter;
pub mod query;
pub mod window;
