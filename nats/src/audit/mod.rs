//! The audit's tamper evidence on NATS: the hash chain over every event in
//! commit order (`comics_eventlog::audit::chain`) is written by the
//! [`sealer`] from the events stream, its head is published to a stream of
//! its own ([`heads`]), and [`verify`] checks the log against both. Reading
//! the log for the audit is `comics_eventlog::audit::query`.

pub mod heads;
pub mod sealer;
pub mod verify;
