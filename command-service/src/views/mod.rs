//! Page views at read rates. `POST /comics/{id}/views` is made durable by a
//! JetStream publish before it answers 202; the stream's 10-minute duplicate
//! window (keyed on comic and reader) is the once-per-10-minutes rule, shared
//! by every instance and kept across restarts. The [`recorder`] then writes
//! the accepted views to the event log in batches, one `ViewsRecorded` event
//! per comic per batch.

mod intake;
pub mod recorder;

pub use intake::{routes, ViewIntake};
