//! The write side of popularity: page views taken at read rates and
//! recorded as the Popularity aggregate's `ViewsRecorded` events, which the
//! popularity projection (`projections/src/popularity/`) turns into view
//! counts, rolling windows and rankings, read by `query-service/src/popularity/`.
//! One pipeline, one name: views are what it counts.
//!
//! - Intake ([`ViewIntake`]): `POST /comics/{id}/views` hands the view to its
//!   process's batcher, which publishes what a few milliseconds gathered as one
//!   message to the JetStream stream `<PREFIX>_VIEWS`; every view of the batch
//!   is answered 202 once JetStream acknowledged it (durable before 202), or
//!   503 if it did not.
//! - Recording ([`recorder`]): one recorder for all instances (a Postgres
//!   advisory lock) reads the stream in order and applies the once per 10
//!   minutes rule per reader and comic, by the messages' stream time, so every
//!   instance's views are judged together in one order. Each commit writes, in
//!   one transaction, a `ViewsRecorded` event per comic, the readers it counted
//!   (to restore the rule's memory after a restart) and the stream sequence it
//!   reached (where it resumes): a crash anywhere neither loses nor doubles a
//!   view.

pub mod batch;
pub(crate) mod intake;
pub mod recorder;
pub(crate) mod routes;
mod rule;

pub use intake::ViewIntake;
pub use routes::routes;
